"""TEMPORARY profiling helper (not committed)."""
import json, logging, os, time, uuid
import zmq
from vpp.agents.admm.negotiation import AdmmSiteAgent
from vpp.agents.membership.messages import distributed_registry
from vpp.agents.runtime.host import Host
from vpp.agents.runtime.loop import EventLoop
from vpp.coordination.admm.instances import random_sites
from vpp.runs.bench.admm_site import BenchLink
from vpp.runs.placement.site_process import parent_gone
from vpp.runs.placement.spawn import set_parent_death_signal

tt = time.thread_time_ns
ACC = dict(flush1=0, poll=0, drain=0, handler=0, solve=0, timers=0, flush2=0, passes=0, wakes=0)

class T(AdmmSiteAgent):
    def _on_round(self, envelope, msg):
        t0 = tt()
        super()._on_round(envelope, msg)
        ACC["handler"] += tt() - t0

def prof_child(host_name, indices, n_sites, horizon, seed, connect, parent, log_level):
    set_parent_death_signal()
    models = random_sites(n_sites, horizon, 1.0, seed)
    context = zmq.Context()
    host = Host(host_name, f"inproc://{host_name}-{uuid.uuid4().hex}", context=context,
                registry=distributed_registry())
    host.connect("agg", connect, duplex=True)
    agents = [host.add(T(models[i].name, models[i])) for i in indices]
    link = host.add(BenchLink())
    loop = EventLoop(host)
    hosts = loop.hosts
    start = None
    try:
        while not link.stopped and not parent_gone(parent.fileno()):
            if start is None and agents[0].solves:
                start = tt(); [ACC.__setitem__(k, 0) for k in ACC]
            a = tt(); loop.flush_out(); b = tt()
            waits = [t for t in (h.next_timer_in() for h in hosts) if t is not None]
            wait = min([0.05, *waits])
            ev = loop._poller.poll(max(wait, 0.0) * 1000.0); c = tt()
            for sock, _ in ev:
                loop._owner[sock].drain(sock)
            d = tt()
            for h in hosts: h.run_timers()
            e = tt(); loop.flush_out(); f = tt()
            ACC["flush1"] += b - a; ACC["poll"] += c - b; ACC["drain"] += d - c
            ACC["timers"] += e - d; ACC["flush2"] += f - e; ACC["passes"] += 1
            ACC["wakes"] += bool(ev)
    finally:
        ACC["total"] = tt() - (start or 0)
        ACC["solves"] = agents[0].solves
        ACC["solve_s"] = agents[0].solve_s
        with open(f"/tmp/item5prof/{host_name}.json", "w") as fh:
            json.dump(ACC, fh)
        host.close(); context.term()
