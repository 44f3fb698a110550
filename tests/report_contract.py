"""DESIGN.md's JSON report contract, shared by the report tests: these keys must be there;
more may be added."""

TOP_KEYS = {"version", "seed", "totals", "rows", "tests"}
TOTALS_KEYS = {
    "injected",
    "recovered",
    "unrecovered",
    "silent",
    "tolerated",
    "recovery_rate",
    "recovery_rate_ci",
    "mttr_s",
    "mttd_s",
}
ROW_KEYS = {
    "kind",
    "target",
    "strategy",
    "injected",
    "recovered",
    "unrecovered",
    "silent",
    "tolerated",
    "recovery_rate",
    "ci_low",
    "ci_high",
    "mttr_p50_s",
    "mttr_p95_s",
    "mttr_mean_s",
}
TEST_KEYS = {"nodeid", "seed", "outcome", "faults", "reproduce"}
TEST_FAULT_KEYS = {"kind", "target", "outcome", "mttr_s"}
SUMMARY_KEYS = {"mean", "p50", "p95"}
