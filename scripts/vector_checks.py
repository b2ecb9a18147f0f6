"""What the independent vector checkers (scripts/check-*-vectors.py) share, written from Protocol.md
like them: scripts/verify-evidence.py loaded as a module (for section 3's canonical bytes, LP() and
base58btc), one list of failures that every check adds to and prints, an Ed25519 check, and the
summary line and exit status."""
import importlib.util
import os

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

_spec = importlib.util.spec_from_file_location(
    "verify_evidence", os.path.join(os.path.dirname(os.path.abspath(__file__)), "verify-evidence.py"))
verifier = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(verifier)

FAILURES = []


def expect(condition, what):
    """Records and prints `what` as a failure unless `condition` holds; returns `condition`."""
    if not condition:
        FAILURES.append(what)
        print(f"FAIL: {what}")
    return condition


def verifies(key, message, signature):
    """Whether `signature` is `key`'s Ed25519 signature over `message` (RFC 8032, PyNaCl)."""
    try:
        VerifyKey(key).verify(message, signature)
        return True
    except BadSignatureError:
        return False


def finish(kind):
    """Prints how the `kind` vectors fared and returns the exit status: 0 when all checked."""
    if FAILURES:
        print(f"{len(FAILURES)} {kind} vector check(s) failed")
        return 1
    print(f"all {kind} vectors check")
    return 0
