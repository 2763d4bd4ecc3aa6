"""The TLS material the launcher generates: a CA that signed a server certificate for loopback."""

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from deploy.certificates import generate_node_keys, generate_server_certificates


def test_the_server_certificate_is_signed_by_the_ca_and_names_the_hosts(tmp_path: Path) -> None:
    paths = generate_server_certificates(tmp_path, hosts=["10.0.0.5", "superlink.example.org"])
    ca = x509.load_pem_x509_certificate(paths.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(paths.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in names.get_values_for_type(x509.IPAddress)} >= {"127.0.0.1", "10.0.0.5"}
    assert set(names.get_values_for_type(x509.DNSName)) >= {"localhost", "superlink.example.org"}
    key = serialization.load_pem_private_key(paths.server_key.read_bytes(), password=None)
    assert key.public_key().public_numbers() == server.public_key().public_numbers()
    assert paths.server_key.stat().st_mode & 0o077 == 0, "private keys are readable by their owner only"


def test_node_keys_are_an_elliptic_curve_pair_in_openssh_format(tmp_path: Path) -> None:
    private, public = generate_node_keys(tmp_path, "node-0")
    key = serialization.load_ssh_private_key(private.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert public.read_text().startswith("ecdsa-sha2-nistp384 ")
    assert serialization.load_ssh_public_key(public.read_bytes()).public_numbers() == key.public_key().public_numbers()
