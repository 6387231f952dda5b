"""Churn and purchase propensity: how well each published model ranks and how honest its probabilities are,
from the evaluation its latest trained run recorded in ml.model_runs (ml/propensity.py ``evaluate``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import plotly.graph_objects as go

from cdp.report import charts
from cdp.report.context import ReportContext, missing_table_note, redact
from cdp.report.model import Chart, Section, Tile

TITLE = "Churn and purchase propensity"
RUNS = "ml.model_runs"
MODELS = {"churn": "churn", "purchase_propensity": "purchase propensity"}
COLOURS = {"churn": charts.PALETTE[3], "purchase_propensity": charts.PALETTE[0]}


@dataclass
class Evaluation:
    model: str
    as_of: date
    version: str | None
    metrics: dict[str, Any]
    published: bool = True

    @property
    def label(self) -> str:
        # a model refused for its validation figures is shown with them, marked as such
        return MODELS[self.model] if self.published else f"{MODELS[self.model]} (not published)"


def build(ctx: ReportContext) -> Section:
    section = Section("models", TITLE, intro=(
        "Each model is judged out of time: fitted on one cutoff and scored on a later one whose outcomes are known "
        "(docs/churn.md). Figures are those of the winning candidate of the latest trained run."
    ))
    if not ctx.has_table(RUNS):
        return section.note(missing_table_note(RUNS, "the ML step"))
    evaluations = []
    for model in MODELS:
        evaluation, note = latest_evaluation(ctx, model)
        if note:
            section.note(note)
        if evaluation:
            evaluations.append(evaluation)
    if not evaluations:
        return section
    section.tiles = [tile for e in evaluations for tile in tiles(e)]
    roc = roc_chart(evaluations, section)
    if roc:
        section.charts.append(roc)
    for chart in (calibration_chart(evaluations), lift_chart(evaluations)):
        if chart:
            section.charts.append(chart)
    return section


def latest_evaluation(ctx: ReportContext, model: str) -> tuple[Evaluation | None, str | None]:
    """The latest trained run at or before the as-of, and a note when it is missing, older or was skipped."""
    runs = ctx.rows(
        f"""
        select status, message, as_of_date, model_version, metrics from {RUNS}
        where model_name = ? and as_of_date <= ?
        order by as_of_date desc, finished_at desc
        """,
        [model, ctx.as_of],
    )
    label = MODELS[model]
    if not runs:
        return None, f"No {label} model run is recorded up to {ctx.as_of.isoformat()}."
    trained = next((run for run in runs if run[0] == "trained"), None)
    latest_status, latest_message, latest_as_of = runs[0][:3]
    note = None
    if latest_status != "trained":
        reason = redact(latest_message).removeprefix(f"{model}: ")
        note = f"{label.capitalize()} was {latest_status} as of {latest_as_of.isoformat()}: {reason}."
        if trained:
            note += f" The charts show its last trained run, as of {trained[2].isoformat()}."
    if not trained:
        # a run refused for a low validation score keeps the candidates' figures: show why it was refused
        refused = winner_metrics(json.loads(runs[0][4])) if runs[0][4] else None
        if refused:
            note = (note or "") + " The charts show the validation figures that fell short."
            return Evaluation(model, latest_as_of, None, refused, published=False), note
        return None, note
    metrics = json.loads(trained[4]) if trained[4] else {}
    evaluation = winner_metrics(metrics)
    if not evaluation:
        return None, (note or "") + f" The {label} run recorded no evaluation metrics."
    return Evaluation(model, trained[2], trained[3], evaluation), note


def winner_metrics(metrics: dict[str, Any]) -> dict[str, Any] | None:
    """The evaluation of the published candidate: ``candidates[winner]``, or the metrics themselves when the run
    evaluated a single model."""
    candidates, winner = metrics.get("candidates"), metrics.get("winner")
    if isinstance(candidates, dict) and winner in candidates:
        return candidates[winner]
    return metrics if "roc_auc" in metrics else None


def tiles(evaluation: Evaluation) -> list[Tile]:
    m = evaluation.metrics
    result = []
    if m.get("roc_auc") is not None:
        result.append(Tile(f"{evaluation.label.capitalize()} ROC AUC", f"{m['roc_auc']:.3f}",
                           f"0.5 = chance; PR AUC {m.get('pr_auc', float('nan')):.3f}"))
    if m.get("base_rate") is not None:
        detail = f"of {m.get('customers', 0):,} validation customers; Brier {m.get('brier', float('nan')):.3f}"
        result.append(Tile(f"{evaluation.label.capitalize()} base rate", f"{m['base_rate']:.1%}", detail))
    return result


def roc_chart(evaluations: list[Evaluation], section: Section) -> Chart | None:
    with_curve = [e for e in evaluations if e.metrics.get("roc_curve")]
    for e in evaluations:
        if not e.metrics.get("roc_curve") and e.metrics.get("roc_auc") is not None:
            section.note(f"{e.label.capitalize()}: ROC AUC {e.metrics['roc_auc']:.3f}; the run recorded no ROC curve "
                         "points, so only the area is shown.")
    if not with_curve:
        return None
    fig = charts.figure(380)
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot",
                                                                                     "color": charts.MUTED}))
    for e in with_curve:
        curve = e.metrics["roc_curve"]
        fig.add_trace(go.Scatter(
            x=[p["false_positive_rate"] for p in curve], y=[p["true_positive_rate"] for p in curve],
            customdata=[p.get("threshold") for p in curve], mode="lines", line={"color": COLOURS[e.model]},
            name=f"{e.label} (AUC {e.metrics.get('roc_auc', float('nan')):.3f})",
            hovertemplate=e.label + ": threshold %{customdata:.3f}<br>false positives %{x:.1%}, "
                                    "true positives %{y:.1%}<extra></extra>",
        ))
    fig.update_xaxes(title="false positive rate", range=[0, 1], tickformat=".0%")
    fig.update_yaxes(title="true positive rate", range=[0, 1], tickformat=".0%")
    return Chart("roc", fig, "ROC curve on the validation cutoff: the further the curve bows to the top left above "
                 "the dotted chance line, the better the model ranks customers.")


def calibration_chart(evaluations: list[Evaluation]) -> Chart | None:
    with_bins = [e for e in evaluations if e.metrics.get("reliability")]
    if not with_bins:
        return None
    top = max(max(max(b["mean_predicted"], b["observed_rate"]) for b in e.metrics["reliability"]) for e in with_bins)
    top = min(1.0, top * 1.1)
    fig = charts.figure(380)
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="perfectly calibrated",
                             line={"dash": "dot", "color": charts.MUTED}))
    for e in with_bins:
        bins = e.metrics["reliability"]
        fig.add_trace(go.Scatter(
            x=[b["mean_predicted"] for b in bins], y=[b["observed_rate"] for b in bins], mode="lines+markers",
            name=e.label, line={"color": COLOURS[e.model]}, customdata=[b["customers"] for b in bins],
            hovertemplate=e.label + ": predicted %{x:.1%}, observed %{y:.1%} (%{customdata:,} customers)"
                                    "<extra></extra>",
        ))
    fig.update_xaxes(title="mean predicted probability", range=[0, top], tickformat=".0%")
    fig.update_yaxes(title="observed rate", range=[0, top], tickformat=".0%")
    return Chart("calibration", fig, "Calibration: customers grouped into ten equal bins by predicted probability; "
                 "points on the dotted diagonal mean a predicted 20 % really happens 20 % of the time.")


def lift_chart(evaluations: list[Evaluation]) -> Chart | None:
    with_lift = [e for e in evaluations if e.metrics.get("lift_by_decile")]
    if not with_lift:
        return None
    fig = charts.figure(380, barmode="group")
    for e in with_lift:
        deciles = e.metrics["lift_by_decile"]
        fig.add_trace(go.Bar(
            x=[d["decile"] for d in deciles], y=[d["lift"] for d in deciles], name=e.label,
            marker_color=COLOURS[e.model],
            customdata=[[d["rate"], d["customers"], d["cumulative_capture"]] for d in deciles],
            hovertemplate=e.label + " decile %{x}: lift %{y:.2f}<br>rate %{customdata[0]:.1%} of "
                                    "%{customdata[1]:,} customers<br>top deciles capture %{customdata[2]:.0%}"
                                    "<extra></extra>",
        ))
    fig.add_hline(y=1, line={"dash": "dot", "color": charts.MUTED})
    fig.update_xaxes(title="decile of the score (1 = highest 10 %)", dtick=1)
    fig.update_yaxes(title="lift over the base rate")
    return Chart("lift", fig, "Lift by decile: how many times more often the outcome happens in each tenth of "
                 "customers ranked by score than on average (dotted line = 1); a good model falls from left to right.")
