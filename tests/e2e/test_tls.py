"""HTTPS (issue 12): boto3 sends a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK) only over
TLS; spillway serves it with a development CA of its own (`--tls-self-signed`) or with
the operator's certificate and key (`--tls-cert`, `--tls-key`)."""

import datetime
import ipaddress
import pathlib

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from conftest import CONFIGS, text_of, user

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
ACCOUNTS = str(CONFIGS / "accounts.toml")
KEY_OF_ACCOUNT_ONE = "key-of-account-one"  # tests/e2e/configs/accounts.toml


def api_key_client(server, monkeypatch, key, verify=None):
    """boto3 as a user with a Bedrock API key runs it: the key in the environment (read
    by a session of its own, so each client gets the key set for it)."""
    monkeypatch.setenv("AWS_BEARER_TOKEN_BEDROCK", key)
    return boto3.session.Session().client(
        "bedrock-runtime",
        region_name="us-east-1",
        endpoint_url=server.url,
        verify=verify,
        config=Config(retries={"max_attempts": 1}),
    )


def test_api_key_over_the_development_certificate(start_server, monkeypatch):
    server = start_server("--config", ACCOUNTS, "--tls-self-signed")
    assert server.url.startswith("https://127.0.0.1:")
    line = server.proc.stdout.readline().strip()
    assert line.startswith("export AWS_CA_BUNDLE=")
    ca = pathlib.Path(line.split("=", 1)[1])
    assert ca == pathlib.Path(server.data_dir) / "tls" / "ca.pem"
    # As printed: the bundle through the environment, nothing else changed.
    monkeypatch.setenv("AWS_CA_BUNDLE", str(ca))
    runtime = api_key_client(server, monkeypatch, KEY_OF_ACCOUNT_ONE)
    answer = runtime.converse(modelId=HAIKU, messages=user("Hi"))
    assert text_of(answer)
    # The key is what authenticated the call: a wrong one is refused.
    wrong = api_key_client(server, monkeypatch, "not-a-key")
    with pytest.raises(ClientError) as e:
        wrong.converse(modelId=HAIKU, messages=user("Hi"))
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # Streams work over TLS too.
    stream = runtime.converse_stream(modelId=HAIKU, messages=user("Hi"))["stream"]
    assert "messageStop" in [next(iter(event)) for event in stream]


def test_the_development_ca_survives_a_restart(start_server):
    first = start_server("--backend", "sim", "--tls-self-signed")
    ca = (pathlib.Path(first.data_dir) / "tls" / "ca.pem").read_bytes()
    first.stop()
    second = start_server("--backend", "sim", "--tls-self-signed", data_dir=first.data_dir)
    assert (pathlib.Path(second.data_dir) / "tls" / "ca.pem").read_bytes() == ca
    client = boto3.client(
        "bedrock-runtime", region_name="us-east-1", endpoint_url=second.url,
        verify=str(pathlib.Path(second.data_dir) / "tls" / "ca.pem"),
    )
    assert text_of(client.converse(modelId=HAIKU, messages=user("Hi"), inferenceConfig={"maxTokens": 5}))


def operator_certificate(tmp_path):
    """A certificate an operator would bring: RSA, key in PKCS#1 ("BEGIN RSA PRIVATE KEY")."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spillway test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def test_api_key_over_the_operators_certificate(start_server, monkeypatch, tmp_path):
    cert, key = operator_certificate(tmp_path)
    server = start_server("--config", ACCOUNTS, "--tls-cert", str(cert), "--tls-key", str(key))
    assert server.url.startswith("https://")
    runtime = api_key_client(server, monkeypatch, KEY_OF_ACCOUNT_ONE, verify=str(cert))
    assert text_of(runtime.converse(modelId=HAIKU, messages=user("Hi")))


def test_a_key_that_does_not_fit_is_refused_at_start(tmp_path):
    from conftest import Server

    cert, _ = operator_certificate(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_key = operator_certificate(tmp_path / "other")
    with pytest.raises(RuntimeError) as e:
        Server(["--backend", "sim", "--tls-cert", str(cert), "--tls-key", str(other_key)])
    assert "does not fit the certificate" in str(e.value)
