"""The project's packages and where each lives, for setuptools (pyproject.toml has the rest).

An image of one role copies only the parts that role runs (deploy/Dockerfile): the gateway's
holds no services/ code. Installing the project installs the packages its tree holds, so the
same `pip install -e .` serves the whole tree (`make install`) and each image's part of it."""
from pathlib import Path

from setuptools import find_packages, setup

PACKAGES = {
    "debito": "debito",
    "common": "common",
    "contracts": "contracts",
    "gateway": "gateway/gateway",
    "mandates": "services/mandates/mandates",
    "plans": "services/plans/plans",
    "payments": "services/payments/payments",
    "signing": "services/signing/signing",
    "reporting": "services/reporting/reporting",
    "sandbox_bank": "deploy/sandbox_bank",
}
ROOT = Path(__file__).resolve().parent
present = {name: path for name, path in PACKAGES.items() if (ROOT / path / "__init__.py").is_file()}

setup(packages=[f"{name}.{sub}" if sub else name for name, path in present.items()
                for sub in ["", *find_packages(ROOT / path)]],
      package_dir=present)
