"""Fill in .env's SECRET_KEY and FIELD_ENCRYPTION_KEY when they are empty or missing, once.

`make run` serves with DEBUG off, which requires both; every later command (the demo seeding, the tests, the
next run) must find the same keys, or sessions end and the vendor credentials stored encrypted cannot be read.
A key already set, in .env or in the environment, is left alone."""

import base64
import os
import re
import secrets
import sys
from pathlib import Path


def fernet_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


GENERATORS = {"SECRET_KEY": lambda: secrets.token_urlsafe(48), "FIELD_ENCRYPTION_KEY": fernet_key}


def fill(text: str) -> tuple[str, list[str]]:
    filled = []
    for name, generate in GENERATORS.items():
        if os.environ.get(name):
            continue
        line = re.compile(rf"^{name}=(.*)$", re.MULTILINE)
        found = line.search(text)
        if found and found.group(1).strip():
            continue
        value = f"{name}={generate()}"
        text = line.sub(value, text, count=1) if found else text.rstrip("\n") + f"\n{value}\n"
        filled.append(name)
    return text, filled


def main(path: str) -> None:
    env_file = Path(path)
    text, filled = fill(env_file.read_text())
    if filled:
        env_file.write_text(text)
        env_file.chmod(0o600)
        print(f"{path}: generated {' and '.join(filled)} (keep them: they sign sessions and encrypt credentials)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".env")
