"""Scale-out (issue 12): three instances sharing quotas through Redis behave like one.

Each test runs its own instances under a Redis key prefix of its own, against a
redis-server this module starts on a free port (so one test can stop and restart it).
A token bucket refills continuously (quota/60 per second), so every count below is "the
quota, plus what refilled while the burst ran, plus at most one refill step": the burst's
duration is measured and the refill computed from it, never assumed."""

import shutil
import signal
import time

import pytest

from cluster_harness import HAIKU, SONNET35, Burst, Redis, metric, refill, start_cluster

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="redis-server not installed")


@pytest.fixture(scope="module")
def redis():
    r = Redis()
    yield r
    r.stop()


def test_three_instances_admit_exactly_one_quota(start_server, redis):
    servers = start_cluster(start_server, redis.url)
    # 256 clients spread over the three instances, 20 RPM in ap-northeast-1: exactly 20
    # plus the refill during the burst, not 3 × 20.
    burst = Burst(servers, 256, SONNET35, "ap-northeast-1", max_tokens=64)
    took = burst.run()
    assert burst.errors == []
    assert 20 <= burst.admitted <= 20 + refill(20, took) + 1, (burst.admitted, took)
    assert burst.admitted + burst.throttled == 256
    # The apac. profile's cross-region quota is its own bucket: 2 × 20 RPM.
    burst = Burst(servers, 256, "apac." + SONNET35, "ap-northeast-1", max_tokens=64)
    took = burst.run()
    assert burst.errors == []
    assert 40 <= burst.admitted <= 40 + refill(40, took) + 1, (burst.admitted, took)
    for s in servers:
        assert metric(s, "spillway_cluster_redis_up") == 1.0


def test_tokens_per_minute_are_shared_too(start_server, redis):
    # Calls hold their reservation for 8 s (time to first token), so nothing settles
    # during the burst: Claude 3 Haiku in ap-northeast-1 has 200 RPM but 200,000 TPM,
    # and each call reserves 4,096 output tokens plus its input: 48 fit, not 200.
    servers = start_cluster(start_server, redis.url, ttft_ms=8_000)
    burst = Burst(servers, 120, HAIKU, "ap-northeast-1", max_tokens=4_096)
    took = burst.run()
    assert burst.errors == []
    assert 48 <= burst.admitted <= 48 + refill(200_000, took, cost=4_096) + 1, (burst.admitted, took)


def test_a_killed_instances_reservations_return_when_its_leases_expire(start_server, redis):
    # Calls take 6 s; leases live 2 s unless renewed.
    a, b, c = start_cluster(start_server, redis.url, ttft_ms=6_000, lease_ttl_ms=2_000)
    doomed = Burst([c], 8, SONNET35, "ap-northeast-1", max_tokens=64)
    # Clients are built before the clock matters (building one takes a while).
    first = Burst([a, b], 40, SONNET35, "ap-northeast-1", max_tokens=64)
    second = Burst([a, b], 40, SONNET35, "ap-northeast-1", max_tokens=64)
    started = time.monotonic()
    waiting = doomed.run(background=True)
    # c admits its 8 at once; they then wait for their first token when c dies.
    time.sleep(1.5)
    c.proc.send_signal(signal.SIGKILL)
    c.proc.wait()
    # The survivors see c's 8 still reserved (its leases have not expired yet) ...
    waiting += first.run(background=True)
    time.sleep(0.5)
    # ... and once they expire (2 s TTL, reaped by the next script), admit them again.
    time.sleep(3.0)
    waiting += second.run(background=True)
    for t in waiting:
        t.join()
    elapsed = time.monotonic() - started
    # c's calls were admitted but never answered (the process died).
    assert len(doomed.errors) == 8 and doomed.admitted == 0
    survivors_admitted = first.admitted + second.admitted
    # c's 8 came back after the TTL, so the survivors admit the whole quota between
    # them (plus the refill); without the leases' expiry they would stop at 12 + refill.
    assert 20 <= survivors_admitted <= 20 + refill(20, elapsed) + 1, (first.admitted, second.admitted, elapsed)
    # Which burst gets c's 8 back depends on when the reaper ran (on a loaded machine the
    # leases may already have expired for the first burst); the total above is what
    # proves they returned: without expiry it would stop at 12 + refill.
    assert not first.errors and not second.errors


@pytest.mark.parametrize("fail", ["closed", "local"])
def test_redis_restart_follows_the_fail_setting(start_server, fail, monkeypatch):
    monkeypatch.setenv("RUST_LOG", "info")  # the outage and recovery lines are the point
    redis = Redis()
    try:
        servers = start_cluster(start_server, redis.url, fail=fail, timeout_ms=200)
        burst = Burst(servers, 30, SONNET35, "ap-northeast-1", max_tokens=64)
        burst.run()
        assert 20 <= burst.admitted <= 22 and not burst.errors
        redis.stop()
        # Every request gets an answer (boto3 gives up after 5 s: none may hang).
        down = Burst(servers, 60, SONNET35, "ap-northeast-1", max_tokens=64, read_timeout=5)
        down.run()
        assert down.errors == []
        if fail == "closed":
            # Not a throttle: the service itself cannot admit anything (503, retryable).
            assert down.admitted == 0 and down.throttled == 0 and down.unavailable == 60
            assert all("quota store is unreachable" in m for m in down.unavailable_messages)
        else:
            # Each instance admits its share: 20 ÷ 3 = 6 per instance, 18 in all.
            assert 18 <= down.admitted <= 18 + 3, down.admitted
        for s in servers:
            assert metric(s, "spillway_cluster_redis_up") == 0.0
        redis.start()
        for _ in range(100):
            if all(metric(s, "spillway_cluster_redis_up") == 1.0 for s in servers):
                break
            time.sleep(0.1)
        assert all(metric(s, "spillway_cluster_redis_up") == 1.0 for s in servers)
        # The restarted Redis is empty: the buckets start full and admission is exact again.
        again = Burst(servers, 60, SONNET35, "ap-northeast-1", max_tokens=64)
        took = again.run()
        assert again.errors == []
        assert 20 <= again.admitted <= 20 + refill(20, took) + 1, (again.admitted, took)
        logs = "".join("".join(s._stderr) for s in servers)
        assert "redis unavailable" in logs and "redis answers again" in logs
    finally:
        redis.stop()
