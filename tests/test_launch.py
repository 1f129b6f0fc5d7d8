"""The explorer starts run processes from typed `Launch` values: each one's command line is what the
CLI parses back into the same request (the one place argv is written)."""

from __future__ import annotations

from pathlib import Path

from acdc_tui.cli.main import build_parser
from acdc_tui.runs.launch import Launch, LaunchKind


def parsed(launch: Launch):
    args = build_parser().parse_args(launch.argv())
    assert args.command == launch.kind.value and args.quiet
    return args


def test_a_run_launch_names_its_recipe_and_journal(tmp_path):
    args = parsed(Launch.run(tmp_path / "r.recipe.json", tmp_path / "r.journal", paused=False))
    assert (args.recipe, args.journal, args.paused) == (str(tmp_path / "r.recipe.json"), str(tmp_path / "r.journal"), False)


def test_a_resume_launch_starts_paused(tmp_path):
    args = parsed(Launch.resume(tmp_path / "r.journal"))
    assert (args.journal, args.paused) == (str(tmp_path / "r.journal"), True)


def test_a_branch_launch_carries_its_step_threshold_and_marks(tmp_path):
    launch = Launch.branch(tmp_path / "p.journal", 17, tmp_path / "b.journal", 0.0125, ["embed->a0.0.q"], ["a0.1->out", "m0->out"])
    assert launch.kind is LaunchKind.BRANCH
    args = parsed(launch)
    assert (args.journal, args.step, args.branch_journal, args.paused) == (str(tmp_path / "p.journal"), 17, str(tmp_path / "b.journal"), True)
    assert args.threshold == 0.0125 and args.pin == ["embed->a0.0.q"] and args.force_prune == ["a0.1->out", "m0->out"]
    assert args.out == str(tmp_path / "b.json")  # its circuit beside its journal
    assert parsed(Launch.branch(tmp_path / "p.journal", 3, tmp_path / "c.journal")).threshold is None  # the parent's τ
