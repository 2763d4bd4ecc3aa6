"""How a run that cannot go on ends: as a failed run in Flower's own records, with one clear line.

Flower marks a ServerApp run `failed` (`flwr ls`) only when `main` raises an Exception; it then logs
"ServerApp raised an exception" with the traceback and records the exception's message as the run's
details. A run stopped by something the user fixes (a bad setting, a missing data file, nodes that
never came) has already printed its one line (`fedrec-arena: ...`); its traceback would only bury it.
So such runs raise `RunStopped`, and a filter on Flower's logger drops the traceback of exactly that
exception. Crashes (any other exception) keep their traceback.
"""

import logging


class RunStopped(Exception):
    """The run stops on a problem the message explains; no traceback is shown for it."""


class _NoTracebackForStoppedRuns(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], RunStopped):
            record.exc_info, record.exc_text = None, None
        return True


_FILTER = _NoTracebackForStoppedRuns()


def stop_run(message: str) -> RunStopped:
    """Print the run's one-line error and return the exception that ends it as failed."""
    print(f"fedrec-arena: {message}", flush=True)
    flower_logger = logging.getLogger("flwr")
    if _FILTER not in flower_logger.filters:
        flower_logger.addFilter(_FILTER)
    return RunStopped(message)
