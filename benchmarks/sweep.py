"""Sweep benchmark: `python -m benchmarks.sweep --pending N --due N --latency-ms N [--db URL]`.

Seeds a database (a child process does it, so the peak memory below is the sweep's, not the seeding's),
then on the same data, resetting the due steps in between:
1. ours: one full `journey_sweep` flow run through Prefect (a temporary local Prefect API);
2. the floor: the same writes (lease, reserve, sending, sent) and rendering in a plain DB-API loop
   (benchmarks/floor.py), and for scale the bare floor (one ledger write, no lease, no exactly-once);
3. the naive design: one Prefect task per due step, on a subset, scaled.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

SUBSET_DEFAULT = 1000
# The phases of one batch, in order, as `Sweeper.process_batch` times them.
PHASES = ("claim", "load", "decide", "render", "reserve", "mark_sending", "send", "record")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_probe_ms() -> float:
    """Milliseconds one core takes for a fixed pure-Python loop (best of three): how fast this machine's cores
    are right now. On a shared host the same code's figures move with it (seen here: 30-40% within an hour),
    so runs compare through it, or by the ratios measured within one run."""
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        x = 0
        for i in range(2_000_000):
            x += i * i % 7
        best = min(best, time.perf_counter() - t)
    return best * 1000


def _host_cpu() -> tuple[float, float] | None:
    """(busy, all) CPU seconds of the whole machine so far, from /proc/stat's first line (idle and iowait are
    not busy); None where there is none. Over a run, busy / all x cores is how many cores were in use, by
    anything: our sweep, its render children, the database, the temporary Prefect server."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields) - idle) / tick, sum(fields) / tick


def _processes() -> Iterator[tuple[str, int, float]]:
    """(name, parent pid, CPU seconds) of every process in /proc. The CPU counts utime, stime and the times of
    its exited children (cutime, cstime; fields 14-17 of stat): a Postgres backend that has exited is counted
    in the postmaster's, so a worker's closed connections are not lost. Nothing where there is no /proc."""
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        yield name, int(rest[1]), sum(int(v) for v in rest[11:15]) / tick


def _children_cpu_s() -> float:
    """CPU seconds used so far by this process's child processes (the temporary Prefect server)."""
    me = os.getpid()
    return sum(cpu for _, parent, cpu in _processes() if parent == me)


def _settle(limit_s: float = 90.0) -> float:
    """Wait until this process's children use under 5% of a core for a second; the seconds waited."""
    start = time.perf_counter()
    if not os.path.isdir("/proc"):
        return 0.0
    last = _children_cpu_s()
    while time.perf_counter() - start < limit_s:
        time.sleep(1.0)
        now = _children_cpu_s()
        if now - last < 0.05:
            break
        last = now
    return time.perf_counter() - start


def _server_cpu_s() -> float | None:
    """CPU seconds used so far by every local `postgres` process (server and backends); None where there is
    none. On a machine whose cores the database shares with the sweep, this is the part of the cores the sweep
    cannot have (what limits two workers on two cores)."""
    times = [cpu for name, _, cpu in _processes() if name.startswith("postgres")]
    return sum(times) if times else None


def _admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _make_pg_database(url: str) -> tuple[str, str]:
    import psycopg

    base, _, _db = url.rpartition("/")
    name = f"aftercare_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}", name


def _drop_pg_database(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(_admin_url(url), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _seed_child(url: str, due: int, pending: int) -> None:
    from aftercare.db.engine import make_engine, migrate
    from benchmarks.seed import seed

    engine = make_engine(url)
    migrate(engine)
    t = time.perf_counter()
    seed(engine, due=due, pending=pending)
    print(json.dumps({"seed_seconds": round(time.perf_counter() - t, 1)}))
    engine.dispose()


def _services(args: argparse.Namespace, url: str, home: str, engine: Any = None) -> Any:
    from aftercare.bootstrap import build_services
    from aftercare.clock import FrozenClock
    from aftercare.settings import Settings
    from benchmarks.fakes import LatencyEmailSender, LatencySmsSender
    from benchmarks.seed import NOW

    latency = args.latency_ms / 1000
    settings = Settings(home=Path(home), database_url=url, outbox_dir=Path(home) / "outbox", holdout_share=0.0,
                        sweep_batch_size=args.batch_size, sms_rate_per_second=args.send_rate,
                        sweep_concurrency=args.concurrency, sweep_render_processes=args.render_processes,
                        environment="development")
    return build_services(settings, clock=FrozenClock(NOW), email=LatencyEmailSender(latency),
                          sms=LatencySmsSender(latency, args.send_rate), engine=engine, migrate_db=False)


def _worker_child(args: argparse.Namespace) -> None:
    """One worker process of the `--workers` run: builds its services, says it is ready, waits for `go` on
    stdin, then sweeps with `--concurrency` batches in flight (threads, as the flow's task runner) until no
    step is left, and prints what it claimed and when it started and ended (wall clock, shared by processes)."""
    import gc
    from concurrent.futures import ThreadPoolExecutor

    services = _services(args, args.db, args.home)
    services.sweeper.has_due()  # connect before the clock starts
    gc.freeze()
    print("ready", flush=True)
    sys.stdin.readline()
    start, cpu_start = time.time(), time.process_time()
    me = f"w{os.getpid()}"
    with ThreadPoolExecutor(args.concurrency) as pool:
        reports = list(pool.map(lambda i: services.sweeper.run(worker_id=f"{me}-{i}"), range(args.concurrency)))
    end = time.time()
    if services.sweeper.render_pool is not None:
        services.sweeper.render_pool.close()
    print(json.dumps({"claimed": sum(r.claimed for r in reports), "start": start, "end": end,
                      "cpu_s": time.process_time() - cpu_start}), flush=True)


def _run_workers(args: argparse.Namespace, url: str, home: str, n: int) -> dict[str, Any]:
    """`n` worker processes sweep the same due steps at once; steps per second over all of them."""
    cmd = [sys.executable, "-m", "benchmarks.sweep", "--worker-child", "--db", url, "--home", home,
           "--batch-size", str(args.batch_size), "--latency-ms", str(args.latency_ms), "--send-rate",
           str(args.send_rate), "--concurrency", str(args.concurrency), "--render-processes",
           str(args.render_processes)]
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
    server0 = _server_cpu_s() if url.startswith("postgresql") else None
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    server1 = _server_cpu_s() if server0 is not None else None
    wall = max(o["end"] for o in outs) - min(o["start"] for o in outs)
    claimed = sum(o["claimed"] for o in outs)
    run = {"workers": n, "claimed": claimed, "seconds": wall, "steps_per_s": claimed / wall,
           "per_worker": [o["claimed"] for o in outs],
           "cpu_us_per_step": sum(o["cpu_s"] for o in outs) / max(claimed, 1) * 1e6}
    if server0 is not None and server1 is not None:
        run["db_server_cpu_us_per_step"] = (server1 - server0) / max(claimed, 1) * 1e6
    return run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sweep", description=__doc__)
    p.add_argument("--pending", type=int, default=100_000, help="steps not yet due")
    p.add_argument("--due", type=int, default=20_000, help="steps due now")
    p.add_argument("--latency-ms", type=float, default=0.0, help="fake provider latency per request")
    p.add_argument("--db", default=None, help="SQLAlchemy URL (a Postgres URL gets a fresh database, dropped after)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--send-rate", type=float, default=5000.0, help="SMS sends per second (token bucket)")
    p.add_argument("--concurrency", type=int, default=None,
                   help="sweep batches in flight (default: the setting's default, AFTERCARE_SWEEP_CONCURRENCY)")
    p.add_argument("--render-processes", type=int, default=0,
                   help="render pool processes (AFTERCARE_SWEEP_RENDER_PROCESSES; 0: render in the sweep process)")
    p.add_argument("--naive-subset", type=int, default=SUBSET_DEFAULT)
    p.add_argument("--skip-naive", action="store_true")
    p.add_argument("--skip-floor", action="store_true")
    p.add_argument("--workers", type=int, default=0,
                   help="also time N worker processes sweeping at once against one worker process (no Prefect)")
    p.add_argument("--seed-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--worker-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--home", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.seed_only:
        _seed_child(args.db, args.due, args.pending)
        return 0
    if args.worker_child:
        _worker_child(args)
        return 0

    tmp = tempfile.TemporaryDirectory(prefix="aftercare-bench-")
    pg_name = None
    base_url = args.db
    if args.db is None:
        url = f"sqlite:///{tmp.name}/bench.db"
    elif args.db.startswith("postgresql"):
        url, pg_name = _make_pg_database(args.db)
    else:
        url = args.db
    os.environ.setdefault("PREFECT_HOME", str(Path(tmp.name) / "prefect"))
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # the harness's server: no telemetry
    # The harness stops its server while it is still recording task runs and logs the cancellation as errors.
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    try:
        return _run(args, url, tmp.name)
    finally:
        if pg_name:
            _drop_pg_database(base_url, pg_name)
        tmp.cleanup()


def _run(args: argparse.Namespace, url: str, home: str) -> int:
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    out = subprocess.run([sys.executable, "-m", "benchmarks.sweep", "--seed-only", "--db", url, "--due",
                          str(args.due), "--pending", str(args.pending)], check=True, capture_output=True, text=True)
    seed_info = json.loads(out.stdout.strip().splitlines()[-1])

    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
    from prefect.testing.utilities import prefect_test_harness
    from sqlalchemy import event, update

    from aftercare.bootstrap import get_services, use_services
    from aftercare.db.engine import make_engine
    from aftercare.db.models import ScheduledStep
    from aftercare.services.reports import SweepReport
    from aftercare.settings import Settings
    from benchmarks.floor import run_floor
    from benchmarks.seed import reset_due
    from flows.journey_sweep import journey_sweep

    engine = make_engine(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_a: Any) -> None:  # executemany counts once
        statements[0] += 1

    if args.concurrency is None:
        args.concurrency = Settings.model_fields["sweep_concurrency"].default

    def fresh_services() -> Any:
        return _services(args, url, home, engine)

    probe = cpu_probe_ms()
    print(f"aftercare sweep benchmark: {dialect}, pending={args.pending:,} due={args.due:,} "
          f"latency={args.latency_ms:g} ms batch={args.batch_size} concurrency={args.concurrency} "
          f"render_processes={args.render_processes} "
          f"cores={os.cpu_count()} load={os.getloadavg()[0]:.1f} "
          f"cpu_probe={probe:.0f} ms (seeded in {seed_info['seed_seconds']} s)")
    print("provider model: email = 1 request per <=1000 messages; SMS = 1 request per message, overlapped in a "
          f"thread pool behind a token bucket at {args.send_rate:g}/s; each request sleeps the latency")

    results: dict[str, Any] = {}
    # 1. The floor (first: it also warms the template cache and Babel's locale data for everyone), before the
    # temporary Prefect server starts: it needs no Prefect, and the server's start would take CPU from it.
    fl = bare = db_only = None
    if not args.skip_floor:
        fl = run_floor(fresh_services(), url=url, batch_size=args.batch_size)
        reset_due(engine, args.due)
        bare = run_floor(fresh_services(), url=url, batch_size=args.batch_size, bare=True)
        reset_due(engine, args.due)
        db_only = run_floor(fresh_services(), url=url, batch_size=args.batch_size, render=False)
        reset_due(engine, args.due)

    with prefect_test_harness(server_startup_timeout=120):
        # The temporary server keeps a core busy for its first 20-30 s (its services start): our sweep starts
        # when it is idle, as a deployment's server (on its own machine) would be.
        settled = _settle()
        print(f"         waited {settled:.0f} s for the temporary Prefect server to go idle")

        # What any flow run costs here, measured on an empty flow in the same harness (Prefect 3.9 joins the
        # flow-heartbeat thread on exit, which sleeps in 1 s steps): printed, not subtracted.
        @flow(name="empty")
        def empty() -> None:
            return None

        empty()
        t0 = time.perf_counter()
        empty()
        empty_s = time.perf_counter() - t0

        # 2. Ours: one full sweep through the Prefect flow.
        services = fresh_services()
        batch_times: list[float] = []
        spans: list[tuple[float, float]] = []  # (start, end) of every batch: the sweep's own work
        inner = services.sweeper.process_batch

        def timed(**kw: Any) -> SweepReport:
            t = time.perf_counter()
            try:
                return inner(**kw)
            finally:
                end = time.perf_counter()
                batch_times.append(end - t)
                spans.append((t, end))

        services.sweeper.process_batch = timed  # type: ignore[method-assign]
        rss_before = _rss_mb()
        cpu0 = time.process_time()
        server0 = _server_cpu_s() if dialect == "postgresql" else None
        host0 = _host_cpu()
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        statements[0] = 0
        with use_services(services):
            t0 = time.perf_counter()
            report = journey_sweep(batch_size=args.batch_size)
            ours_s = time.perf_counter() - t0
        ours_statements = statements[0]
        host1 = _host_cpu()
        cpu_us = (time.process_time() - cpu0) / max(report["claimed"], 1) * 1e6
        pool = services.sweeper.render_pool
        in_children = pool.rendered_in_children if pool is not None else 0
        if pool is not None:
            pool.close()  # joins the children: their CPU is then in RUSAGE_CHILDREN
        children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        children_us = ((children1.ru_utime + children1.ru_stime) - (children0.ru_utime + children0.ru_stime)) \
            / max(report["claimed"], 1) * 1e6
        peak = _peak_mb()
        claimed = report["claimed"]
        ours_rate = claimed / ours_s
        sent_msgs = services.email.sent + services.sms.sent
        busy = [b for b in batch_times if b > 0]
        p50 = statistics.median(busy) * 1000
        p95 = (statistics.quantiles(busy, n=20)[-1] if len(busy) >= 2 else busy[0]) * 1000
        print(f"ours   : {claimed:,} due steps ({sent_msgs:,} messages: {services.email.sent:,} email in "
              f"{services.email.requests:,} requests, {services.sms.sent:,} SMS) in {ours_s:.2f} s "
              f"= {ours_rate:,.0f} steps/s")
        print(f"         batch time p50 {p50:.1f} ms, p95 {p95:.1f} ms over {len(busy)} batches "
              f"(inside the sweep-batch task; summed {sum(busy):.2f} s with {args.concurrency} in flight); "
              f"an empty flow run here takes {empty_s:.2f} s")
        work_s = max(e for _, e in spans) - min(b for b, _ in spans)
        print(f"         first claim to last record {work_s:.2f} s = {claimed / work_s:,.0f} steps/s; the rest of the "
              f"{ours_s:.2f} s is the flow run's own cost (Prefect 3.9 ends a run on its heartbeat thread's next "
              "1 s tick)")
        print(f"         CPU of this process {cpu_us:,.0f} us/step (all its threads; a render pool's children not "
              "included): on a busy shared machine a steadier figure than the wall time")
        results["cpu_us_per_step"] = round(cpu_us, 1)
        server1 = _server_cpu_s() if server0 is not None else None
        if server0 is not None and server1 is not None:
            server_us = (server1 - server0) / max(report["claimed"], 1) * 1e6
            print(f"         CPU of the local Postgres processes {server_us:,.0f} us/step (/proc, the server and "
                  "its backends): on a machine's own cores the sweep's CPU and the database's share them")
            results["db_server_cpu_us_per_step"] = round(server_us, 1)
        if host0 is not None and host1 is not None and host1[1] > host0[1]:
            cores_busy = (host1[0] - host0[0]) / (host1[1] - host0[1]) * (os.cpu_count() or 1)
            print(f"         the machine's cores were {cores_busy:.2f} of {os.cpu_count()} busy through our run "
                  "(/proc/stat: everything on it, the sweep, render children, database and Prefect server)")
            results["host_cores_busy"] = round(cores_busy, 2)
        if pool is not None:
            print(f"         render pool: {args.render_processes} process(es) rendered {in_children:,} of the messages "
                  "(the first batches render in this process while the children start)")
            results["rendered_in_children"] = in_children
            per_message = children_us * claimed / max(in_children, 1)
            print(f"         CPU of the render children {children_us:,.0f} us/step ({per_message:,.0f} us per message "
                  "they rendered, their start included)")
            results["render_children_cpu_us_per_step"] = round(children_us, 1)
        print(f"         db statements/step {ours_statements / claimed:.3f} ({ours_statements:,} statements; "
              "SQLAlchemy before_cursor_execute, an executemany counts once)")
        print(f"         peak RSS {peak:,.0f} MB (getrusage ru_maxrss of this process, high-water mark over the floor "
              f"and our sweep; RSS was {rss_before:,.0f} MB when our sweep started; seeding ran in a child process)")
        results.update(steps_per_s=round(ours_rate, 1), sweep_seconds=round(ours_s, 3), claimed=claimed,
                       empty_flow_run_s=round(empty_s, 2), work_seconds=round(work_s, 3),
                       messages=sent_msgs, batch_p50_ms=round(p50, 2), batch_p95_ms=round(p95, 2),
                       statements_per_step=round(ours_statements / claimed, 3), peak_rss_mb=round(peak, 1))
        # Where a step's time goes: each phase of a batch (summed over batches; with batches in flight they
        # overlap, so the phases can add up to more than the wall time), and the flow run's own cost.
        phases = report.get("phase_seconds", {})
        breakdown = {name: round(phases.get(name, 0.0) / claimed * 1e6, 1) for name in PHASES}
        breakdown["prefect_overhead"] = round(max(ours_s - work_s, 0.0) / claimed * 1e6, 1)
        breakdown["per_step_wall"] = round(ours_s / claimed * 1e6, 1)
        results["breakdown_us_per_step"] = breakdown
        print("         per step (us): " + ", ".join(f"{k} {v:,.1f}" for k, v in breakdown.items()))
        if report.get("sent", 0) == 0 or claimed != args.due:
            print(f"WARNING: report {report}")

        if fl is not None:
            results["floor_steps_per_s"] = round(fl["steps_per_s"], 1)
            results["floor_ratio"] = round(ours_rate / fl["steps_per_s"], 3)
            print(f"floor  : {fl['steps']:,} steps in {fl['seconds']:.2f} s = {fl['steps_per_s']:,.0f} steps/s "
                  "(plain DB-API loop: the same writes in the same transactions - lease, reserve, sending, sent - "
                  "and the same rendering and fake sends; no decisions, no Prefect, no ORM)")
            print(f"         ours / floor = {results['floor_ratio']:.2f} (throughput; 1.0 = as fast as the floor; "
                  "target >= 0.5, i.e. within 2x)")
        if bare is not None:
            results["bare_floor_steps_per_s"] = round(bare["steps_per_s"], 1)
            results["bare_floor_ratio"] = round(ours_rate / bare["steps_per_s"], 3)
            print(f"bare   : {bare['steps']:,} steps in {bare['seconds']:.2f} s = {bare['steps_per_s']:,.0f} steps/s "
                  "(for scale: one ledger insert per message, no lease, no reserve-then-send, i.e. no exactly-once); "
                  f"ours / bare = {results['bare_floor_ratio']:.2f}")

        if db_only is not None:
            results["db_floor_steps_per_s"] = round(db_only["steps_per_s"], 1)
            results["db_floor_ratio"] = round(ours_rate / db_only["steps_per_s"], 3)
            print(f"db only: {db_only['steps']:,} steps in {db_only['seconds']:.2f} s = "
                  f"{db_only['steps_per_s']:,.0f} steps/s (the second, lower floor: the floor's claim and the same "
                  "rows written in the same transactions, with nothing read for templates, nothing rendered, no "
                  f"provider called; the database alone); ours / db only = {results['db_floor_ratio']:.2f}")

        # 3. The naive design: one Prefect task per due message.
        if not args.skip_naive:
            reset_due(engine, args.due)
            nv_services = fresh_services()
            steps_t = ScheduledStep.__table__

            @task(name="naive-send-one", cache_policy=NO_CACHE)
            def naive_one(step_id: int) -> int:
                sw = get_services().sweeper
                now = sw.clock.now()
                with sw.session_factory() as session, session.begin():
                    rows = session.execute(
                        update(steps_t).where(steps_t.c.id == step_id, steps_t.c.status == "pending")
                        .values(claimed_by="naive", claimed_until=now + sw.lease, attempts=steps_t.c.attempts + 1)
                        .returning(*steps_t.c)).all()
                if not rows:
                    return 0
                rep = SweepReport()
                with sw.session_factory() as session:
                    batch = sw._load(session, rows, now)
                    decisions = sw._decide_all(rows, batch, now)
                    planned = sw._plan(session, rows, decisions, batch, now)
                to_send = sw._mark_sending(sw._reserve(planned, decisions, now, rep), now)
                sw._record(rows, decisions, planned, sw._send(to_send), now, rep)
                return rep.total_sent

            @flow(name="naive-sweep")
            def naive_sweep(ids: list[int]) -> int:
                return sum(naive_one(i) for i in ids)

            subset = min(args.naive_subset, args.due)
            with use_services(nv_services):
                t0 = time.perf_counter()
                naive_sweep(list(range(1, subset + 1)))
                nv_s = time.perf_counter() - t0
            nv_rate = subset / nv_s
            results["naive_steps_per_s"] = round(nv_rate, 1)
            results["naive_ms_per_step"] = round(1000 / nv_rate, 2)
            results["naive_speedup"] = round(ours_rate / nv_rate, 1)
            print(f"naive  : one Prefect task per due step on {subset} steps in {nv_s:.2f} s = {nv_rate:,.0f} steps/s "
                  f"({1000 / nv_rate:.1f} ms/step; scaled to {args.due:,} steps: {args.due / nv_rate:,.0f} s)")
            print(f"         ours / naive = {results['naive_speedup']:.1f}x (target >= 15x)")
    if args.workers:
        runs = {}
        for n in (1, args.workers):
            reset_due(engine, args.due)
            runs[n] = _run_workers(args, url, home, n)
            print(f"workers: {n} process(es), {args.concurrency} batches in flight each: {runs[n]['claimed']:,} steps "
                  f"in {runs[n]['seconds']:.2f} s = {runs[n]['steps_per_s']:,.0f} steps/s "
                  f"(per worker {runs[n]['per_worker']}; no Prefect)")
            cpu_line = f"         CPU per step: the worker processes {runs[n]['cpu_us_per_step']:,.0f} us"
            if "db_server_cpu_us_per_step" in runs[n]:
                cpu_line += f", the local Postgres processes {runs[n]['db_server_cpu_us_per_step']:,.0f} us"
            print(cpu_line)
        scale = runs[args.workers]["steps_per_s"] / runs[1]["steps_per_s"]
        print(f"         {args.workers} workers / 1 = {scale:.2f}x (target >= 1.8x on Postgres)")
        one = runs[1]
        per_step_s = (one["cpu_us_per_step"] + one.get("db_server_cpu_us_per_step", 0.0)) / 1e6
        ceiling = (os.cpu_count() or 1) / per_step_s / one["steps_per_s"]
        print(f"         ceiling on this machine: {os.cpu_count()} cores / (workers' + database's CPU per step) = "
              f"{ceiling:.2f}x one worker, if nothing else ran")
        results["workers_ceiling"] = round(ceiling, 2)
        results.update(workers_steps_per_s={str(n): round(r["steps_per_s"], 1) for n, r in runs.items()},
                       workers_cpu_us_per_step={str(n): round(r["cpu_us_per_step"], 1) for n, r in runs.items()},
                       workers_scale=round(scale, 2))
    engine.dispose()
    results.update(cpu_probe_ms=round(probe, 1), cpu_probe_ms_after=round(cpu_probe_ms(), 1))
    results.update(db=dialect, pending=args.pending, due=args.due, latency_ms=args.latency_ms,
                   batch_size=args.batch_size, concurrency=args.concurrency, render_processes=args.render_processes)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
