"""A Ray driver that watches a cluster: `python -m harness.ray_probe <gcs-address> [interval-s]`.

Connects with `ray.init(address=...)`, prints `ready`, then samples every interval the cluster's free
CPUs (`ray.available_resources()`) and its live actors by class (the GCS actor table) until a line
arrives on stdin (or stdin closes). Then it prints one JSON object: the samples and the GCS's job,
actor and node tables. Ray's state API (`ray.util.state`) would need the dashboard (`ray[default]`);
the GCS tables (`ray._private.state`, what `ray.util.state` is built on) need only the GCS.
"""

import json
import sys
import threading
import time


def main() -> None:
    address = sys.argv[1]
    interval = float(sys.argv[2]) if len(sys.argv) > 2 else 0.25

    import ray
    from ray._private import state

    ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    own_job = ray.get_runtime_context().get_job_id()
    print("ready", flush=True)

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()

    samples = []
    while not stop.is_set():
        alive: dict[str, int] = {}
        for actor in state.actors(actor_state_name="ALIVE").values():
            alive[actor["ActorClassName"]] = alive.get(actor["ActorClassName"], 0) + 1
        free = ray.available_resources().get("CPU", 0.0)
        samples.append({"t": time.time(), "free-cpus": free, "alive-actors": alive})
        stop.wait(interval)

    report = {
        "address": address,
        "probe-job-id": own_job,
        "cluster-cpus": ray.cluster_resources().get("CPU", 0.0),
        "free-cpus": ray.available_resources().get("CPU", 0.0),
        "samples": samples,
        "jobs": [
            {
                "job-id": job["JobID"],
                "driver-pid": job["DriverPid"],
                "entrypoint": job["Entrypoint"],
                "is-dead": job["IsDead"],
            }
            for job in state.jobs()
        ],
        "actors": [
            {
                "actor-id": actor["ActorID"],
                "class": actor["ActorClassName"],
                "job-id": actor["JobID"],
                "node-id": actor["Address"]["NodeID"],
                "pid": actor["Pid"],
                "state": actor["State"],
            }
            for actor in state.actors().values()
        ],
        "nodes": [
            {
                "node-id": node["NodeID"],
                "alive": node["Alive"],
                "cpus": node["Resources"].get("CPU", 0.0),
                "address": node["NodeManagerAddress"],
            }
            for node in ray.nodes()
        ],
    }
    ray.shutdown()
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
