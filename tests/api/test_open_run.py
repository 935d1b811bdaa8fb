"""``vpp.open_run``: every table of a run as a DataFrame with a tz-aware time index and
steps numbered from 0 everywhere; the tables' totals are the summary's."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

import vpp
from vpp.runs.scenario import BUNDLED


def _run(tmp_path_factory, name: str, edit=None, **options):
    out = tmp_path_factory.mktemp(name.replace(".", "-")) / "run"
    path = BUNDLED / name
    if edit is not None:
        data = yaml.safe_load(path.read_text())
        edit(data)
        path = out.parent / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    vpp.run(path, out=out, **options)
    return vpp.open_run(out)


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """A merit-order run that sells day-ahead (so it has positions too)."""
    return _run(tmp_path_factory, "market.yaml")


@pytest.fixture(scope="module")
def admm(tmp_path_factory):
    return _run(tmp_path_factory, "admm.yaml")


@pytest.fixture(scope="module")
def grid_event(tmp_path_factory):
    return _run(tmp_path_factory, "loss-of-infeed.yaml")


@pytest.fixture(scope="module")
def backtest(tmp_path_factory):
    def five_days(data):
        data["data"]["days"] = 5
        data["traders"] = [t for t in data["traders"] if t["use"] != "ml"]
    return _run(tmp_path_factory, "backtest_de_lu_2019.yaml", five_days)


def _utc_index(frame):
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC"


def test_a_merit_order_run_as_frames(market):
    s, steps, sites = market.summary, market.steps, market.sites
    for frame in (steps, sites):
        _utc_index(frame)
    dt_h = 0.25
    assert list(steps["step"]) == list(range(96)) and steps.index[0] == market.start
    assert abs(steps["served_kw"]).sum() * dt_h == pytest.approx(s["served_kwh"])
    assert steps["unserved_kw"].sum() * dt_h == pytest.approx(s["unserved_kwh"])
    # the sites' powers add up to what the step served, step by step
    by_step = sites.groupby("step")["power_kw"].sum()
    assert by_step.to_numpy() == pytest.approx(steps["served_kw"].to_numpy(), abs=1e-6)
    assert set(sites["step"]) == set(steps["step"])
    # the trace: every message sent is counted by the summary, none dropped
    messages = market.messages(bodies=False)
    _utc_index(messages)
    assert (messages["direction"] == "send").sum() == s["messages"]
    assert (messages["direction"] == "drop").sum() == s["dropped"] == 0
    # a message's step is its negotiation's: CallForBids of conversation merit-order/k
    calls = market.messages(kind="CallForBids", direction="send")
    assert (calls["conversation"].str.rsplit("/", n=1).str[1].astype(int)
            == calls["step"]).all()
    assert (calls["time"] if "time" in calls else calls.index).equals(
        pd.DatetimeIndex(steps.index[calls["step"].to_numpy()], name="time"))
    assert calls["body"].map(lambda b: b["step"]).eq(calls["step"]).all()
    # rounds: each step's award phases are the rounds the steps table counts
    rounds = market.rounds
    _utc_index(rounds)
    mo = rounds[rounds["protocol"] == "merit-order"]
    awards = mo[mo["detail"].map(lambda d: d.get("phase")) == "awards"].groupby("step").size()
    assert awards.reindex(steps["step"], fill_value=0).to_numpy().tolist() == \
        steps["rounds"].tolist()
    assert awards.sum() == s["rounds"]


def test_day_ahead_positions_add_up_to_the_summary(market):
    day_ahead = market.summary["market"]["day_ahead"]
    pos = market.positions
    _utc_index(pos)
    assert len(pos) == 24 and list(pos["step"]) == [4 * h for h in range(24)]
    assert pos["sold_mw"].sum() == pytest.approx(day_ahead["sold_mwh"])
    assert pos["bought_mw"].sum() == pytest.approx(day_ahead["bought_mwh"])
    assert pos["cash_eur"].sum() == pytest.approx(day_ahead["revenue_eur"])
    assert (pos["net_mw"] == pos["sold_mw"] - pos["bought_mw"]).all()
    assert pos.index[1] - pos.index[0] == pd.Timedelta(hours=1)


def test_messages_page_by_page_are_the_whole(market):
    whole = market.messages(agent="hydro", bodies=False)
    assert len(whole) > 100
    assert ((whole["sender"] == "sites/hydro") | (whole["receiver"] == "sites/hydro")).all()
    pages = list(market.iter_messages(agent="hydro", page_rows=37, bodies=False))
    assert max(len(p) for p in pages) == 37 and len(pages) == -(-len(whole) // 37)
    joined = pd.concat(pages)
    assert joined.drop(columns="body").equals(whole.drop(columns="body"))
    page = market.messages(agent="sites/hydro", offset=50, limit=20, bodies=False)
    assert page.drop(columns="body").equals(whole.iloc[50:70].drop(columns="body"))
    step7 = market.messages(step=7, bodies=False)
    assert set(step7["step"]) == {7} and (step7.index == market.steps.index[7]).all()
    assert market.messages(kind="NoSuchKind").empty


def test_an_admm_run_as_frames(admm):
    s, steps = admm.summary, admm.steps
    assert abs(steps["served_kw"]).sum() * 1.0 == pytest.approx(s["served_kwh"])
    assert abs(steps["target_kw"]).sum() * 1.0 == pytest.approx(s["target_kwh"])
    rounds = admm.rounds
    assert len(rounds[rounds["protocol"] == "admm"]) == s["iterations"]
    # the last iteration's residuals are the ones the negotiation stopped on
    last = rounds.iloc[-1]
    assert last["primal_residual"] == pytest.approx(s["negotiations"][0]["primal_residual"])
    messages = admm.messages(bodies=False)
    assert (messages["direction"] == "send").sum() == s["messages"]
    # the dispatch of step 23 is sent at 23:00, so it is step 23's, wherever its
    # conversation began
    cleared = admm.messages(kind="StepCleared", direction="send")
    assert cleared["body"].map(lambda b: b["step"]).eq(cleared["step"]).all()
    assert set(cleared["step"]) == set(range(24))


def test_a_grid_event_as_frames(grid_event):
    s, steps = grid_event.summary, grid_event.steps
    with_vpp = s["with-vpp"]
    assert len(steps) == with_vpp["samples"]
    assert steps["with_vpp_f_hz"].min() == pytest.approx(with_vpp["nadir_hz"], abs=1e-5)
    nadir_at = steps["with_vpp_f_hz"].idxmin() - grid_event.start
    assert nadir_at.total_seconds() == pytest.approx(with_vpp["nadir_t_s"])
    assert steps["with_vpp_response_kw"].max() / 1e3 == pytest.approx(
        with_vpp["response_peak_mw"], abs=1e-4)
    assert (grid_event.messages(bodies=False)["direction"] == "send").sum() == s["messages"]
    timeline = grid_event.table("timeline")
    _utc_index(timeline)
    with_rows = timeline[timeline["run"] == "with-vpp"]
    # the timeline's samples are the steps, at the same instants and numbers
    assert with_rows["step"].tolist() == steps["step"].tolist()
    assert with_rows.index.equals(steps.index)
    rounds = grid_event.rounds
    assert rounds["step"].max() == len(steps) - 1
    with pytest.raises(ValueError, match="a table's name"):
        grid_event.table("../summary")


def test_a_backtest_as_frames(backtest):
    s = backtest.summary
    equity, trades, rejections = backtest.equity, backtest.trades, backtest.rejections
    for frame in (equity, trades, rejections):
        _utc_index(frame)
    assert len(equity) == s["hours"] + 1 and equity.index[0] == backtest.start
    assert equity["step"].tolist() == list(range(s["hours"] + 1))
    steps = backtest.steps
    for row in s["traders"]:
        name = row["trader"]
        eq = equity[f"{name}_equity_eur"]
        assert eq.iloc[-1] - eq.iloc[0] == pytest.approx(row["profit_eur"], abs=0.01)
        # steps.csv holds the equity after each step: equity.csv's next row
        assert steps[f"{name}_equity_eur"].tolist() == eq.iloc[1:].tolist()
        mine = trades[trades["trader"] == name]
        assert len(mine) == row["fills"]
        assert mine["fee_eur"].sum() == pytest.approx(row["fees_eur"], abs=0.01)
        energy = mine[mine["market"] != "ancillary"]  # FCR is capacity (MW), not energy
        assert energy["quantity_mw"].sum() == pytest.approx(row["traded_mwh"], abs=0.05)
        stopped = rejections[rejections["trader"] == name].groupby("limit").size()
        assert stopped.to_dict() == row["rejections"]
    # a trade is indexed by the hour it was decided, and delivered later
    assert (trades["delivery_step"] > trades["step"]).all()
    assert (trades.index == backtest.start + pd.to_timedelta(trades["step"], unit="h")).all()
    assert (trades["delivery_time"] - trades.index == pd.to_timedelta(
        trades["delivery_step"] - trades["step"], unit="h")).all()
