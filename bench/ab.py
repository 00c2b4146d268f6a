"""A/B runs of chosen spillway scenarios, with run.sh's setup (mock, generated config,
invocation logging on, the same CPU placement) but none of its peers or tables: to compare
two builds one after the other on the same machine.

    python3 bench/ab.py --bin-dir target/release OLD/spillway NEW/spillway OLD/spillway NEW/spillway \\
        --scenarios sat,ssat,mem

Scenarios: sat (Converse at 32 connections), isat (InvokeModel, Anthropic body, at 32
connections), c1 (one connection), rN (Converse open loop
at N/s for 10 s), srN (ConverseStream open loop at N/s for 10 s), ssat (ConverseStream at 32 connections: events/s), mem (RSS with
--streams ConverseStream responses held open; per stream against the RSS before them).
Prints one line per binary and scenario. Standard library only.
"""

import argparse
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import harness as H  # noqa: E402


def run(bin_dir, spillway, scenarios, streams):
    args = argparse.Namespace(
        smoke=False, bin_dir=bin_dir, spillway_bin=spillway, placement=None, duration=5.0, warmup=1.0,
        rates="2000", connections=32, streams=streams, chunks=16, mock_latency_ms=0.0, no_peers=True,
    )
    h = H.Harness(args)
    out = []
    try:
        h.start_mock()
        h.start_spillway()
        converse = h.spillway_target("converse", H.HAIKU, "converse", H.CONVERSE_BODY)
        stream = h.spillway_target("stream", H.HAIKU, "converse-stream", H.CONVERSE_BODY, stream=True)
        invoke = h.spillway_target("invoke", H.HAIKU, "invoke", H.INVOKE_BODY)
        for s in scenarios:
            if s == "sat":
                r = h.load(s, converse, connections=32)
            elif s == "isat":
                r = h.load(s, invoke, connections=32)
            elif s == "c1":
                r = h.load(s, converse, connections=1)
            elif s == "ssat":
                r = h.load(s, stream, connections=32)
            elif s.startswith("sr") and s[2:].isdigit():
                r = h.load(s, stream, rate=int(s[2:]), duration=10)
            elif s.startswith("r") and s[1:].isdigit():
                r = h.load(s, converse, rate=int(s[1:]), duration=10)
            elif s == "mem":
                before = H.rss_kib(h.spillway.pid)
                h.memory["idle_after_kib"] = before
                h.run_open_streams()
                m = h.memory
                r = {"rss_before_kib": before, "rss_open_kib": m["open_kib"],
                     "kib_per_stream": round((m["open_kib"] - before) / m["streams"], 2)}
            else:
                raise SystemExit(f"unknown scenario {s}")
            lat = r.get("latency_us") or {}
            keep = {k: r[k] for k in ("throughput_rps", "events_per_s", "rss_before_kib", "rss_open_kib",
                                      "kib_per_stream", "error") if k in r}
            if lat:
                keep.update(p50_us=lat.get("p50"), p99_us=lat.get("p99"))
            out.append((s, keep))
    finally:
        h.stop_all()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin-dir", required=True, help="where bench-mock and bench-load are")
    ap.add_argument("--scenarios", default="sat,ssat,mem")
    ap.add_argument("--streams", type=int, default=1000)
    ap.add_argument("spillway", nargs="+", help="spillway binaries, run in this order")
    a = ap.parse_args()
    for binary in a.spillway:
        for name, result in run(a.bin_dir, binary, a.scenarios.split(","), a.streams):
            print(f"{binary}  {name}  {json.dumps(result)}", flush=True)


if __name__ == "__main__":
    main()
