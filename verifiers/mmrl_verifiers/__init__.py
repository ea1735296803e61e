"""mmrl_verifiers: rule-based verifiers for RLVR, usable without torch.

    from mmrl_verifiers import verify, VerifierPool
    verify("math", r"... \\boxed{4}", "4").score            # in-process
    with VerifierPool(workers=2) as pool:                    # hard per-item timeouts
        verdicts = pool.map([{"verifier": "math", "response": r, "gold": g} for r, g in pairs])

    validate_options("math", {"preset": "verl_dapo"})        # [] or one message per problem
    print(describe())                                        # every verifier and its options
"""
from .contract import Option, split_fields
from .pool import MAX_RESPONSE_CHARS, VerifierPool, check_timeout, run_item, verify, verify_batch
from .registry import VerifierSpec, get, names, register, register_spec, spec
from .validate import describe, validate_options
from .verdict import STATUSES, Verdict

__all__ = ["Verdict", "STATUSES", "VerifierPool", "VerifierSpec", "Option", "verify", "verify_batch", "run_item",
           "register", "register_spec", "get", "names", "spec", "MAX_RESPONSE_CHARS", "validate_options",
           "describe", "check_timeout", "split_fields"]
