"""A revocation reaches every process's view: 4 real worker processes, revocations
issued from each in turn, once quietly, once across a Redis restart and once
across a Sentinel failover (``benchmarks.propagation``, smaller).

Correctness only: each revocation is refused by every other process (each
watches it for at most 5 s), and at the end no process accepts any revoked
token. How fast is the benchmark's to say (``make bench``, docs/revocation.md).
"""

from __future__ import annotations

import pytest

from benchmarks import propagation

COUNT = 40


@pytest.mark.parametrize("disrupt", ["none", "restart", "failover"])
def test_every_process_refuses_every_revocation(disrupt: str) -> None:
    result = propagation.run(disrupt, COUNT)
    assert result["views_held_at_start"] == [COUNT] * propagation.WORKERS
    retried, failed = (int(n) for n in result["failed_then_retried"].split("/"))
    assert retried == failed
    # A revocation Redis refused during the disruption was made again until it
    # took, and its window measured from then: every one of them has a window.
    assert result["revocations"] == COUNT
    # Every watched revocation was refused by the three other processes.
    assert result["still_accepted_after_the_watch"] == 0
    assert result["revoked_tokens_accepted_at_the_end"] == 0
