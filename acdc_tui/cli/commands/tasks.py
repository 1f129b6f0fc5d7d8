"""`acdc-tui tasks`: the builtin tasks and their metrics, without loading any model."""

from __future__ import annotations

import argparse


def register(subparsers) -> argparse.ArgumentParser:
    return subparsers.add_parser("tasks", help="list the builtin tasks")


def run(args: argparse.Namespace) -> int:
    import tasks

    for name in tasks.TASK_NAMES:  # summaries, not load_task: hub tasks would download their models
        print(f"{name:18} {tasks.TASK_SUMMARIES[name]}")
    print(f"{'--task-dir DIR':18} your own model: config.json, weights.pt, tokens.pt; or a Hugging Face checkpoint, its tokenizer and prompts.jsonl; metrics kl, logit_diff, prob_diff, nll")
    print(f"{'--prompts FILE':18} text prompts (JSONL) with --model DIR or --task-dir DIR: see docs/your-own-experiment.md")
    print(f"{'--model PATH':18} with any task: a local Hugging Face checkpoint directory replaces the task's model")
    return 0
