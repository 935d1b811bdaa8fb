"""``vpp feed``: a feed agent in its own process, publishing a CSV replay or values pushed
by another process on a topic that any host can subscribe to."""

from __future__ import annotations

import json
import signal
import time
import uuid
from pathlib import Path

import typer
from vpp.runs.cli.common import LOG_JSON_HELP, console, fail, setup_logging


def feed(
    csv_path: Path | None = typer.Argument(
        None, help="A CSV to replay (omit it with --pull)."),
    column: str = typer.Option("price_eur_mwh", "--column", help="The column replayed."),
    time_column: str = typer.Option("timestamp_utc", "--time-column",
                                    help="ISO 8601 timestamps, increasing."),
    speed: float = typer.Option(1.0, "--speed",
                                help="Replay speed: 1 is real time, 3600 an hour a second."),
    start: str | None = typer.Option(None, "--start", help="First time replayed (ISO 8601)."),
    end: str | None = typer.Option(None, "--end", help="Last time replayed (ISO 8601)."),
    pull: str | None = typer.Option(
        None, "--pull", help="Instead of a CSV: bind a PULL socket here (tcp://ADDR:PORT) for "
        "values pushed by another process (MessagePack [series, time, value])."),
    publish: str = typer.Option("tcp://127.0.0.1:5600", "--publish",
                                help="The PUB endpoint subscribers connect to."),
    topic: str = typer.Option("feed.prices", "--topic", help="The topic published on."),
    name: str = typer.Option("feed", "--name", help="The feed agent's name."),
    wait_s: float = typer.Option(1.0, "--wait-s",
                                 help="Let subscribers connect before the first value."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    log_level: str = typer.Option("WARNING", "--log-level", help="DEBUG, INFO, WARNING, ERROR."),
    log_json: bool = typer.Option(False, "--log-json", help=LOG_JSON_HELP),
) -> None:
    """Publish a live data feed (docs/operations.md): a CSV replayed at a speed, or values
    pushed over ZeroMQ; stops at the end of the CSV, or on SIGINT / SIGTERM."""
    setup_logging(log_level, log_json, host="feeds")
    if (csv_path is None) == (pull is None):
        fail("give a CSV to replay or --pull ENDPOINT, not both and not neither")
    if not publish.startswith(("tcp://", "ipc://")):
        fail(f"--publish must be tcp://ADDR:PORT or ipc://PATH, got {publish!r}")
    import zmq
    from vpp.agents.kinds import default_registry
    from vpp.agents.ops.feeds import CsvReplaySource, FeedAgent, ZmqPushSource
    from vpp.agents.runtime.host import Host
    from vpp.agents.runtime.loop import EventLoop

    context = zmq.Context()
    try:
        source = (CsvReplaySource(csv_path, column, time_column=time_column, speed=speed,
                                  start=start, end=end) if csv_path is not None
                  else ZmqPushSource(pull, context))
        host = Host("feeds", f"inproc://feeds-{uuid.uuid4().hex}", pub_endpoint=publish,
                    context=context, registry=default_registry())
    except (ValueError, zmq.ZMQError) as exc:
        context.destroy(linger=0)
        fail(str(exc), code=1)
    agent = host.add(FeedAgent(name, source, topic))
    stop: list[int] = []
    previous = {s: signal.signal(s, lambda n, _f: stop.append(n))
                for s in (signal.SIGINT, signal.SIGTERM)}
    loop = EventLoop(host)
    if not as_json:
        where = f", pushes taken at {source.endpoint}" if pull is not None else ""
        console.print(f"feed {name} publishing {topic} on {host.pub_endpoint}{where}",
                      highlight=False)
    t0 = time.monotonic()
    try:
        loop.run_until(lambda: bool(stop), wait_s)
        agent.start()
        while not stop and not agent.done:
            loop.run_once(0.05)
        loop.flush_out()
        time.sleep(0.05)  # let ZeroMQ's I/O thread put the last values on the wire
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        agent.stop()
        host.close()
        context.destroy(linger=0)
    summary = {"feed": name, "topic": topic, "published": agent.seq,
               "dropped": getattr(source, "dropped", 0),
               "wall_s": round(time.monotonic() - t0, 3), "endpoint": host.pub_endpoint,
               "stopped_by": signal.Signals(stop[0]).name if stop else "end of the CSV"}
    if as_json:
        print(json.dumps(summary))
    else:
        console.print(summary)
