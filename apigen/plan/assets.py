"""Files the gateway reads at run time (certificates, keys, key lists, htpasswd, JWKS).

Every such file named in the policy file is read at build time (a missing or unreadable file is
an error at the policy line, not an nginx start-up failure), copied into the bundle under a
stable name, and referenced from the configuration by its bundle path. Secrets are written with
mode 0600 and never inlined into ``*.conf`` files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from apigen.diagnostics import Diagnostics
from apigen.load.files import FileTooLargeError, read_file
from apigen.load.policy_loader import PolicySource

MAX_ASSET_BYTES = 1 << 20  # keys and key lists, not data sets

# A PEM private key block (PKCS#8, encrypted PKCS#8, or the RSA/EC/DSA/OpenSSH forms); one whose
# END line is missing runs to the end of the text, so no part of it is kept.
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END \1PRIVATE KEY-----[^\n]*\n?|\Z)", re.DOTALL
)


def without_private_keys(text: str) -> tuple[str, bool]:
    """``text`` without its PEM private key blocks, and whether it had any."""
    public, count = _PRIVATE_KEY_BLOCK.subn("", text)
    return public, count > 0


def safe_file_name(name: str) -> str:
    """``name`` reduced to ``[A-Za-z0-9._-]`` (at most 100 characters, never hidden or empty)."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")[:100]
    return stem or "file"


@dataclass(frozen=True)
class Asset:
    bundle_path: str  # relative to the bundle root, e.g. "secrets/jwt-main.pem"
    text: str
    secret: bool

    @property
    def mode(self) -> int:
        return 0o600 if self.secret else 0o644


@dataclass
class AssetCollector:
    """Gathers the assets of one build, so two policies naming the same file share one copy."""

    source: PolicySource
    diags: Diagnostics
    assets: dict[str, Asset] = field(default_factory=dict)
    read_paths: list[Path] = field(default_factory=list)  # every file read (lint's cache inputs)

    def read(self, value: str, data_path: Sequence[Hashable]) -> str | None:
        """The text of the file ``value`` (relative to the policy file), or None after an error."""
        where = self.source.pos(*data_path)
        if "\x00" in value:
            self.diags.error(f"file name {value!r} has a NUL character", where)
            return None
        path = Path(value)
        if not path.is_absolute():
            path = self.source.base_dir / path
        self.read_paths.append(path)
        try:
            raw = read_file(path, MAX_ASSET_BYTES)
        except FileTooLargeError:
            self.diags.error(f"{value} is larger than {MAX_ASSET_BYTES} bytes", where)
            return None
        except FileNotFoundError:
            self.diags.error(f"file not found: {value}", where)
            return None
        except IsADirectoryError:
            self.diags.error(f"is a directory, expected a file: {value}", where)
            return None
        except OSError as exc:
            self.diags.error(f"cannot read {value}: {exc.strerror}", where)
            return None
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self.diags.error(f"{value} is not a UTF-8 text file (PEM, JSON or text expected)", where)
            return None

    def add_text(self, directory: str, name: str, text: str, *, secret: bool) -> Asset:
        """Put generated or read ``text`` in the bundle at ``directory/name`` (made unique)."""
        # The bundle name is apigen's, not the user's: only plain characters, so the path can be
        # printed anywhere (ssl_certificate evaluates variables in its argument since 1.15.9).
        stem = safe_file_name(PurePosixPath(name).name)
        candidate = f"{directory}/{stem}"
        existing = self.assets.get(candidate)
        if existing is not None and existing.text != text:
            digest = hashlib.sha256(text.encode()).hexdigest()[:8]
            candidate = f"{directory}/{digest}-{stem}"
        asset = Asset(candidate, text, secret or (existing.secret if existing else False))
        self.assets[candidate] = asset
        return asset

    def public_file(self, value: str, data_path: Sequence[Hashable]) -> Asset | None:
        """A certificate or CA file, copied world-readable into ``tls/``. A file that also holds a
        private key (a combined PEM, haproxy style) is copied without it: found by a hunt, the key
        landed in ``tls/`` with mode 0644 next to its 0600 copy in ``secrets/``. nginx takes the key
        only from ``ssl_certificate_key`` (the policy's ``key``), so the certificate copy needs none."""
        text = self.read(value, data_path)
        if text is None:
            return None
        public, had_key = without_private_keys(text)
        if had_key:
            self.diags.warning(
                f"{value} also holds a private key: its copy in the bundle's tls/ (readable by everyone) leaves "
                "the key out",
                self.source.pos(*data_path),
                hint="keep private keys in files of their own: only `key` and `client_key` are copied, to "
                "secrets/ with mode 0600",
            )
        return self.add_text("tls", Path(value).name, public, secret=False)

    def file(self, value: str, data_path: Sequence[Hashable], *, directory: str, secret: bool) -> Asset | None:
        text = self.read(value, data_path)
        if text is None:
            return None
        return self.add_text(directory, Path(value).name, text, secret=secret)
