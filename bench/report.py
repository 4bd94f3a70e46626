"""Render a results dict as the Markdown table committed beside the JSON."""

from __future__ import annotations

from typing import Any


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join("" if c is None else str(c) for c in cells) + " |"


def render(results: dict[str, Any]) -> str:
    v = results["versions"]
    lines = [
        f"# salesflow benchmarks{' (smoke: sizes too small to mean anything)' if results['smoke'] else ''}",
        "",
        f"Run {results['started_at']}, {results.get('duration_s')} s. Machine: {v['cores']} cores, {v['cpu_model']}; "
        f"{v['platform']}. Python {v['python']}, Kafka {v['kafka']}, aiokafka {v['aiokafka']}, asyncpg {v['asyncpg']}, "
        f"faststream {v['faststream']}, fastapi {v['fastapi']}, uvicorn {v['uvicorn']}, eventsourcing "
        f"{v['eventsourcing']} (psycopg {v['psycopg']}).",
        "",
    ]
    if "load_average_at_start" in results:  # recorded since 2026-12-03
        start, end = results["load_average_at_start"], results.get("load_average_at_end") or ["?"]
        lines += [f"Load average (1 min) on the machine: {start[0]:.2f} at the start, "
                  f"{end[0] if isinstance(end[0], str) else f'{end[0]:.2f}'} at the end.", ""]
    if flush := results.get("disk_flush"):  # absent from results written before 2026-12-02 19:00
        lines += [
            f"Disk flush (8 kB write + fdatasync in {flush['directory']}, {flush['writes']} times): p50 "
            f"{flush['p50_us']:.0f} µs, p99 {flush['p99_us']:.0f} µs — every command's answer waits for one WAL "
            "flush, so compare latencies across machines with this floor in mind.", "",
        ]
    if "e2e" in results:
        e = results["e2e"]
        lines += [
            "## End to end (open loop): HTTP → event store → relay → Kafka → reporting read model", "",
            f"Workload: {e['workload']}. Targets: HTTP p99 ≤ {e['targets']['http_p99_ms']} ms, event-to-read-model "
            f"p99 ≤ {e['targets']['read_model_p99_ms']} ms (read model: captures). **Highest rate meeting both: "
            f"{e['highest_rate_meeting_targets']}/s.** Each ladder stops after its first saturated step.", "",
        ]
        for config in e["configs"]:
            lines += [
                f"### leads with {config['leads_workers']} worker process(es): highest rate meeting both targets "
                f"{config['highest_rate_meeting_targets']}/s", "",
                _row(["target/s", "achieved/s", "accepted (2xx)/s", "errors", "HTTP p50", "HTTP p99", "HTTP p99.9",
                      "read-model p50",
                      "read-model p99", "backlog at end (relay / reporting)", "CPU s: leads / orders / reporting / "
                      "kafka / postgres / loadgen", "leads CPU ms/request", "meets"]),
                _row(["---"] * 13),
            ]
            for s in config["rates"]:
                c, b = s["cpu_seconds"], s["backlog_at_step_end"]
                lines.append(_row([
                    s["target_rate"], s["achieved_rate"], s.get("accepted_rate", "–"), s["errors"],
                    s["http"]["p50_ms"], s["http"]["p99_ms"],
                    s["http"]["p999_ms"], s["event_to_read_model"]["p50_ms"], s["event_to_read_model"]["p99_ms"],
                    f"{b['not_yet_relayed']} / {b['not_yet_in_reporting']}",
                    f"{c['leads']} / {c.get('orders', '–')} / {c['reporting']} / {c['kafka']} / {c['postgres']} / "
                    f"{c['loadgen']}",
                    s["leads_cpu_ms_per_request"], "yes" if s["meets_targets"] else "no",
                ]))
            lines.append("")
            if (o := config.get("overload")) is not None:
                a = o["http_accepted"]
                lines += [
                    f"Overload step: offered {o['offered_rate']}/s (3 × the highest accepted, "
                    f"{o['capacity_rate']}/s) for {o['duration_s']} s: **accepted {o['accepted_rate']}/s = "
                    f"{o['share_of_capacity']:.0%} of capacity**, {o['refused_503']} answered 503 (Retry-After), "
                    f"{o['errors']} connection errors; accepted requests' HTTP p50/p99/p99.9 {a['p50_ms']} / "
                    f"{a['p99_ms']} / {a['p999_ms']} ms; statuses {o['statuses']}.", ""]
            for name, prof in config.get("profiles", {}).items():
                lines += [f"Profile of {name} (py-spy with native frames, {prof['samples']} samples, of which "
                          f"{prof.get('in_syscalls')} waiting in system calls; shares below are of the "
                          f"{prof.get('on_cpu_samples')} on-CPU samples): top Python frames by self time", "",
                          _row(["frame (self)", "share", "frame (inclusive)", "share"]), _row(["---"] * 4)]
                for own, incl in zip(prof["self"][:12], prof["inclusive"][:12], strict=False):
                    lines.append(_row([own["frame"], own["share"], incl["frame"], incl["share"]]))
                lines.append("")
    if "append" in results:
        a = results["append"]
        pg = a["postgres"]
        lines += [
            "## Event store append (events/s; same PostgreSQL, same run)", "",
            f"PostgreSQL {pg['server_version']}, synchronous_commit={pg['synchronous_commit']}, fsync={pg['fsync']}, "
            f"shared_buffers={pg['shared_buffers']}; each implementation runs {a['seconds_per_run']} s per "
            "configuration; each writer appends to its own stream.", "",
            _row(["writers", "events/tx", "salesflow", "p99 ms", "eventsourcing (peer)", "p99 ms",
                  "raw asyncpg (ceiling)", "salesflow ÷ eventsourcing",
                  "client CPU µs/tx: salesflow / peer / raw", "server CPU µs/tx: salesflow / raw"]),
            _row(["---"] * 10),
        ]
        for r in a["results"]:
            sf, es, raw = r["salesflow"], r["eventsourcing"], r["raw_asyncpg"]
            lines.append(_row([
                r["writers"], r["events_per_tx"], sf["events_per_s"], sf["append_latency"]["p99_ms"],
                es["events_per_s"], es["append_latency"]["p99_ms"], raw["events_per_s"],
                r["salesflow_vs_eventsourcing"],
                " / ".join(str(x.get("client_cpu_us_per_tx", "–")) for x in (sf, es, raw)),
                " / ".join(str(x.get("server_cpu_us_per_tx") or "–") for x in (sf, raw)),
            ]))
        lines += ["", "CPU per transaction: this benchmark process (the peer's threads included) and the run's "
                  "PostgreSQL backends (when the server is local; WAL writer and checkpointer not counted). Less "
                  "disturbed by other load on a shared machine than events/s.", ""]
    if "relay" in results:
        r = results["relay"]
        lines += [
            "## Relay publish vs bare aiokafka produce", "",
            f"{r['events']} events of ~{r['message_bytes']} bytes (value + headers); {r['settings']}.", "",
            _row(["relay events/s", "raw produce events/s", "relay ÷ raw"]), _row(["---"] * 3),
            _row([r["relay"]["events_per_s"], r["raw_aiokafka_produce"]["events_per_s"], r["relay_vs_raw"]]), "",
        ]
        if "raw_aiokafka_send_batch" in r:  # results since 2026-12-03: CPU beside each, and the send_batch peer
            def cpu(part: dict[str, Any]) -> str:
                c = part["cpu_s"]
                return f"{c['bench_process']} / {c['postgres_backends']} / {c['kafka']}"
            lines += [
                _row(["", "events/s", "relay ÷ it", "CPU s: bench process / database backends / Kafka broker"]),
                _row(["---"] * 4),
                _row(["relay (OutboxRelay.publish_once)", r["relay"]["events_per_s"], 1.0, cpu(r["relay"])]),
                _row(["raw produce, send per message", r["raw_aiokafka_produce"]["events_per_s"], r["relay_vs_raw"],
                      cpu(r["raw_aiokafka_produce"])]),
                _row(["raw produce, create_batch/send_batch (as the relay)",
                      r["raw_aiokafka_send_batch"]["events_per_s"], r["relay_vs_raw_send_batch"],
                      cpu(r["raw_aiokafka_send_batch"])]), "",
            ]
    if "rebuild" in results:
        r = results["rebuild"]
        reb = r["rebuild"]
        phases = reb.get("phases_s", {})
        lines += [
            "## Reporting rebuild from Kafka vs bare getmany", "",
            f"{r['events']} events of realistic lead histories (~8 per lead, leads + orders topics) rebuilt by "
            "reporting's rebuild command (bulk replay of the facts, indexes, summaries built once per group, "
            "switch, catch-up) into a fresh generation, vs a loop that only reads the same topics. Steps (wall s): "
            + ", ".join(f"{k} {v}" for k, v in phases.items()) + ".", "",
            _row(["rebuild events/s", "bare getmany events/s", "rebuild ÷ bare", "facts in read model",
                  "CPU ms/1k events: rebuild / bare (bench process)", "rebuild's PostgreSQL CPU ms/1k events"]),
            _row(["---"] * 6),
            _row([reb["events_per_s"], r["bare_getmany"]["events_per_s"], r["rebuild_vs_bare"], reb["rows"],
                  f"{reb.get('cpu_ms_per_1k')} / {r['bare_getmany'].get('cpu_ms_per_1k')}",
                  reb.get("postgres_cpu_ms_per_1k")]),
            "",
        ]
    if "reporting" in results:
        lines += reporting_section(results["reporting"])
    if "auth" in results:
        a = results["auth"]
        lines += [
            "## Bearer-token validation (bench/auth.py)", "",
            f"{a['algorithm']}, {a['token_bytes']}-byte tokens, {a['validations']} validations in the bench process. "
            f"CPU per validation: **{a['cpu_us_first_sight_median']} µs** the first time a token is seen (signature, "
            f"claims), **{a['cpu_us_repeat_median']} µs** for the same token again (remembered until it expires). "
            "Compare with the leads CPU ms/request above.", "",
        ]
    return "\n".join(lines) + "\n"


REPORT_P99_TARGET_MS, AS_OF_P99_TARGET_MS, LIVE_TARGET_PER_S = 100, 250, 5000  # issue #12 "Done when", at 1M


def _load(values: Any) -> str:
    return "?" if not values else " ".join(f"{v:.1f}" for v in values)


def reporting_section(r: dict[str, Any]) -> list[str]:
    """Reports at 10k / 100k / 1M leads side by side (bench/reporting_scale.py)."""
    sizes = r["sizes"]
    head = [s.get("label") or f"{s['leads']:,} leads" for s in sizes]  # a label: e.g. the same size re-timed
    lines = [
        "## Reporting at scale: reports, as_of, rebuild, live projection", "",
        f"{r['note']}; load average (1/5/15 min) {_load(r['load_average_at_start'])} at the start, "
        f"{_load(r['load_average_at_end'])} at the end. Reports timed in process through the endpoints' query "
        "objects (no HTTP, no cache); CPU = the bench process's CPU per request + the run's PostgreSQL backends' "
        "CPU per request (when recorded); [n] = requests timed when fewer than asked (a time budget per "
        "endpoint); p99 of 20 = the worst but one.", "",
    ]
    if any("phases" in s for s in sizes):  # since 2026-12-04: each size's phases with their commit and load
        lines += [_row(["size", "prepared (fill + rebuild) on", "load before fill / rebuild / after",
                        "phase: commit, load 1/5/15 min at start → end"]), _row(["---"] * 4)]
        for s in sizes:
            phases = "; ".join(f"{name}: {p['commit']}, {_load(p['load_average_at_start'])} → "
                               f"{_load(p['load_average_at_end'])}" for name, p in s.get("phases", {}).items())
            lines.append(_row([f"{s['leads']:,}", s.get("prepared_on_commit"),
                               f"{_load(s.get('load_average_before_fill'))[:4]} / "
                               f"{_load(s.get('load_average_before_rebuild'))[:4]} / "
                               f"{_load(s.get('load_average_after_rebuild'))[:4]}", phases]))
        lines.append("")
    lines += [_row(["report: p50 / p99 ms (CPU ms)", *head]), _row(["---"] * (len(sizes) + 1))]
    names = list(dict.fromkeys(name for s in sizes for name in s.get("reports", {})))
    for name in names:
        cells = []
        for s in sizes:
            t = s.get("reports", {}).get(name)
            if t is None:
                cells.append("not run")
                continue
            cpu = t.get("cpu_ms_per_request")
            if "postgres_cpu_ms_per_request" in t:
                cpu = f"{cpu} + {t['postgres_cpu_ms_per_request']}"
            count = f" [{t['count']}]" if t.get("count", 20) < 20 and "postgres_cpu_ms_per_request" in t else ""
            cells.append(f"{t.get('p50_ms')} / {t.get('p99_ms')} ({cpu}){count}")
        lines.append(_row([name, *cells]))

    def each(get: Any) -> list[Any]:
        out = []
        for s in sizes:
            try:
                out.append(get(s))
            except (KeyError, TypeError):
                out.append("not run")
        return out

    lines += ["", _row(["figure", *head]), _row(["---"] * (len(sizes) + 1))]
    lines.append(_row(["events", *each(lambda s: s["events"])]))
    if any("fill_s" in s for s in sizes):
        lines.append(_row(["fill s / rebuild s (replay + build_summaries)",
                           *each(lambda s: f"{s['fill_s']} / {s['rebuild']['seconds']} ({s['rebuild']['replay_s']} "
                                           f"+ {s['rebuild']['fold_s']})")]))
    if any("database_bytes" in s for s in sizes):
        lines.append(_row(["database size after the rebuild",
                           *each(lambda s: f"{s['database_bytes'] / 2**30:.2f} GiB")]))
    lines.append(_row(["rebuild events/s (summaries maintained)", *each(lambda s: s["rebuild"]["events_per_s"])]))
    lines.append(_row(["bare getmany events/s (same topics)", *each(lambda s: s["bare_getmany_per_s"])]))
    lines.append(_row(["live projection events/s, idle", *each(lambda s: s["live_idle"]["events_per_s"])]))
    lines.append(_row(["live projection events/s, 10 dashboards polling",
                       *each(lambda s: s["live_10_dashboards"]["events_per_s"])]))
    for label, key in (("rebuild", "rebuild"), ("live, idle", "live_idle"),
                       ("live, 10 dashboards", "live_10_dashboards")):
        lines.append(_row([f"{label}: CPU ms per 1k events, bench process / PostgreSQL",
                           *each(lambda s, key=key: f"{s[key]['bench_process_cpu_ms_per_1k']} / "
                                                    f"{s[key]['postgres_cpu_ms_per_1k']}")]))
    lines.append(_row(["dashboard refreshes / report computations while polling",
                       *each(lambda s: f"{s['live_10_dashboards']['dashboard_refreshes']} / "
                                       f"{s['live_10_dashboards']['report_computations']}")]))
    lines.append("")
    if any("exports" in s for s in sizes):
        lines += ["Exports of the report tables as the API writes them (CSV streamed in ~64 KiB chunks, XLSX in "
                  "xlsxwriter's constant-memory mode): rows / bytes / peak Python allocation while writing "
                  "(tracemalloc; the report itself is computed before, as the API does).", "",
                  _row(["export", *head]), _row(["---"] * (len(sizes) + 1))]
        for name in dict.fromkeys(n for s in sizes for n in s.get("exports", {})):
            lines.append(_row([name, *each(lambda s, name=name: f"{s['exports'][name]['rows']} / "
                                                                 f"{s['exports'][name]['bytes']:,} B / "
                                                                 f"{s['exports'][name]['peak_alloc_kib']} KiB")]))
        lines.append("")
    if scaling := r.get("exports"):
        lines += [f"Export writers on synthetic rows (one fresh process per row count; commit {scaling['commit']}, "
                  f"load {_load(scaling['load_average_at_start'])} → {_load(scaling['load_average_at_end'])}): "
                  "peak RSS of the process before and after writing.", "",
                  _row(["format", "rows", "bytes", "seconds", "max RSS before → after (MiB)", "growth (MiB)"]),
                  _row(["---"] * 6)]
        for x in scaling["runs"]:
            lines.append(_row([x["format"], f"{x['rows']:,}", f"{x['bytes']:,}", x["seconds"],
                               f"{x['max_rss_kib_before'] / 1024:.1f} → {x['max_rss_kib_after'] / 1024:.1f}",
                               f"{(x['max_rss_kib_after'] - x['max_rss_kib_before']) / 1024:.1f}"]))
        lines.append("")
    lines += [f'"Done when" (issue #12, at 1M leads): report and dashboard p99 ≤ {REPORT_P99_TARGET_MS} ms, as_of '
              f"p99 ≤ {AS_OF_P99_TARGET_MS} ms, live ≥ {LIVE_TARGET_PER_S:,} events/s with 10 dashboards "
              "polling; the worst of each at every size (wall clock, so under the load above).", "",
              _row(["target", *head]), _row(["---"] * (len(sizes) + 1))]

    def worst(s: dict[str, Any], as_of: bool, limit: float) -> str:
        timed = {n: t for n, t in s.get("reports", {}).items() if n.startswith("as_of") == as_of}
        if not timed:
            return "not run"
        name, t = max(timed.items(), key=lambda item: item[1]["p99_ms"])
        over = sum(1 for t in timed.values() if t["p99_ms"] > limit)
        return (f"{'met' if over == 0 else 'not met'}: worst {name} {t['p99_ms']} ms; "
                f"{over} of {len(timed)} over")

    lines.append(_row([f"reports + dashboard p99 ≤ {REPORT_P99_TARGET_MS} ms",
                       *(worst(s, False, REPORT_P99_TARGET_MS) for s in sizes)]))
    lines.append(_row([f"as_of p99 ≤ {AS_OF_P99_TARGET_MS} ms",
                       *(worst(s, True, AS_OF_P99_TARGET_MS) for s in sizes)]))
    def live(s: dict[str, Any]) -> str:
        rate = s["live_10_dashboards"]["events_per_s"]
        return f"{'met' if rate >= LIVE_TARGET_PER_S else 'not met'}: {rate:,}/s"

    lines.append(_row([f"live with 10 dashboards ≥ {LIVE_TARGET_PER_S:,}/s", *each(live)]))
    lines.append("")
    return lines
