"""Client-certificate users signed by the real cluster's CA, for RBAC tests.

kube-apiserver (started by kwokctl with --client-ca-file=<cluster>/pki/ca.crt) takes a client
certificate's CN as the user name and its O entries as groups.  mint_user() signs one with
pki/ca.key and writes a kubeconfig for it next to the admin one; bind it to a Role or ClusterRole
(e.g. docs/rbac.yaml's) with an ordinary RoleBinding naming `kind: User, name: <name>`.

    python tests/realcluster/users.py --state KUBECONFIG.realcluster.json --name ops [--group g] --out ops.kubeconfig
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import sys
import warnings
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def mint_user(pki_dir: str | Path, server: str, name: str, groups: tuple[str, ...] | list[str] = (),
              out: str | Path | None = None, days: int = 2) -> dict:
    """Sign a client certificate for `name` (groups as O) with pki_dir/ca.key; return a kubeconfig dict
    (also written to `out` when given, mode 0600)."""
    pki = Path(pki_dir)
    ca_cert_pem = (pki / "ca.crt").read_bytes()
    with warnings.catch_warnings():
        # kwokctl's CA has a negative serial number, which cryptography warns about (RFC 5280 forbids it).
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key((pki / "ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups]
                        + [x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=False, content_commitment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption())
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "realcluster",
                      "cluster": {"server": server, "certificate-authority-data": _b64(ca_cert_pem)}}],
        "users": [{"name": name, "user": {"client-certificate-data": _b64(cert_pem),
                                          "client-key-data": _b64(key_pem)}}],
        "contexts": [{"name": name, "context": {"cluster": "realcluster", "user": name}}],
        "current-context": name,
    }
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(kubeconfig, sort_keys=False))
    return kubeconfig


def mint_from_state(state_file: str | Path, name: str, groups=(), out=None) -> dict:
    """The same, for a running cluster described by the launcher's state file."""
    state = json.loads(Path(state_file).read_text())
    return mint_user(state["pki_dir"], state["server"], name, groups, out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", required=True, help="the launcher's <kubeconfig>.realcluster.json")
    parser.add_argument("--name", required=True)
    parser.add_argument("--group", action="append", default=[])
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    mint_from_state(args.state, args.name, args.group, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
