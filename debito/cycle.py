"""The daily cycle: the ordered steps each day needs, each one idempotent for
its date (spec §5: running a cycle again never does anything twice).

`cluster` is anything with the services as attributes: a standalone
`ClusterRpcProxy` (the CLI) or the scheduler's RPC proxies. Steps are added
as the features land (dormancy, pre-notification, submission, bank import).
"""

STEPS = (
    ("mandates", "expire_dormant"),
    ("payments", "collect"),
)


def run_cycle(cluster, as_of):
    """Run every step for `as_of`; returns what each step reported."""
    report = {}
    for service, method in STEPS:
        report[f"{service}.{method}"] = getattr(getattr(cluster, service), method)(as_of.isoformat())
    return report
