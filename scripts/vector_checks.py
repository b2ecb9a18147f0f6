"""What the independent vector checkers (scripts/check-*-vectors.py) share, written from Protocol.md
like them: scripts/verify-evidence.py loaded as a module (for section 3's canonical bytes and LP()),
and one list of failures that every check adds to and prints."""
import importlib.util
import os

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
