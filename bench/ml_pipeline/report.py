"""Print the benchmark's figures from the measurements ``run.measure`` collected."""

from __future__ import annotations

import os
import platform
import statistics
from datetime import UTC, datetime

STAGES = ("decode", "load", "detect", "align", "restore", "paste", "background", "encode")
MIB = 1024 * 1024


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def warm_main_jobs(results: dict) -> list[dict]:
    """Warm jobs on the main photo: later jobs of the fresh worker, else the warmed stages run."""
    first = results.get("first")
    if first and len(first["jobs"]) > 1:
        return first["jobs"][1:]
    stages = results.get("stages")
    if stages:
        return [j for j in stages["jobs"] if j["name"] == "whole_two_faces"]
    return []


def print_header(results: dict) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    device = next((r["device"] for r in _our_reports(results)), "?")
    print()
    print(f"== bench/ml_pipeline  {now}  device={device}  threads={results['threads']}")
    print(f"   {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs,")
    print(f"   load average at the end {load:.1f} (a shared machine inflates every figure)")


def _our_reports(results: dict) -> list[dict]:
    found = [results[k] for k in ("first", "stages") if results.get(k)]
    if results.get("background"):
        found.append(results["background"]["ours"])
    return found + list(results.get("memory", []))


def print_first_job(first: dict) -> None:
    walls = [j["wall_s"] for j in first["jobs"]]
    print("\nFirst job vs later jobs (fresh worker, no warmup(); main photo 640x480, 2 faces)")
    print(f"  pipeline construction  {first['construct_s']:.2f} s")
    for i, job in enumerate(first["jobs"]):
        print(
            f"  job #{i + 1}                {job['wall_s']:.2f} s (CPU {job['cpu_s']:.2f} s; model loading "
            f"{job['timings'].get('load', 0):.2f} s, forwards {job['timings'].get('forward', 0):.2f} s)"
        )
    if len(walls) > 1:
        later = statistics.median(walls[1:])
        later_cpu = statistics.median(j["cpu_s"] for j in first["jobs"][1:])
        print(
            f"  first / later          {walls[0] / later:.2f} wall, {first['jobs'][0]['cpu_s'] / later_cpu:.2f} CPU"
            "  (later = median of jobs 2..)"
        )


def print_stage_table(stages: dict) -> None:
    print(f"\nPer-stage timings, warm (seconds; warmup() took {fmt(stages.get('warmup_s'))} s)")
    header = f"  {'photo':<30}{'in WxH':>10}{'faces':>6}"
    header += "".join(f"{s:>11}" for s in STAGES) + f"{'forward':>9}{'total':>9}{'tot/fwd':>9}"
    print(header)
    for job in stages["jobs"]:
        t = job["timings"]
        row = f"  {job['name']:<30}{'x'.join(map(str, job.get('input_wh') or [])):>10}{fmt(job['faces'], 0):>6}"
        row += "".join(f"{fmt(t.get(s)):>11}" for s in STAGES)
        forward = t.get("forward")
        ratio = job["wall_s"] / forward if forward else None
        row += f"{fmt(forward):>9}{job['wall_s']:>9.2f}{fmt(ratio):>9}"
        print(row)


def print_memory(memory: list[dict]) -> None:
    print("\nPeak memory, background_enhance (fresh process per size; job peak = VmHWM reset before the job)")
    print(f"  {'input':>11}{'output':>11}{'after load':>12}{'job peak':>10}{'job wall':>10}")
    rows = []
    for report in memory:
        job = report["jobs"][0]
        out_w, out_h = job["output_wh"]
        peak = job["peak_rss_mib"]
        rows.append((job["name"].split("@")[-1], out_w * out_h, peak))
        cuda = f"  cuda peak {job['cuda_peak_allocated_mib']} MiB" if "cuda_peak_allocated_mib" in job else ""
        print(
            f"  {job['name'].split('@')[-1]:>11}{f'{out_w}x{out_h}':>11}"
            f"{fmt(report.get('rss_after_warmup_mib'), 0):>8} MiB{fmt(peak, 0):>6} MiB"
            f"{job['wall_s']:>9.1f} s{cuda}"
        )
    if len(rows) >= 2 and rows[0][2] is not None and rows[-1][2] is not None:
        grown = rows[-1][2] - rows[0][2]
        out_grown = (rows[-1][1] - rows[0][1]) * 3 / MIB
        print(
            f"  peak grew {grown:.0f} MiB from {rows[0][0]} to {rows[-1][0]}; one uint8 RGB output "
            f"buffer grew {out_grown:.0f} MiB ({grown / out_grown:.1f}x that). Why: Real-ESRGAN runs tile by "
            "tile into a preallocated output, the paste blends only the faces' footprints, so what grows is "
            "the image-sized buffers themselves (input, enlarged output, background) - not the networks' "
            "activations, which are bounded by the tile size"
        )


def print_reference_run(label: str, run: dict) -> None:
    images = ", ".join(f"{s:.1f}" for s in run["per_image_s"])
    cpu = ", ".join(f"{s:.1f}" for s in run["per_image_cpu_s"])
    print(f"  {label}: {' '.join(run['args'][4:])}")
    print(f"    script {run['script_s']:.1f} s = setup {run['setup_s']:.1f} s + images [{images}] s (CPU [{cpu}] s)")


def background_ratio(results: dict) -> float | None:
    """Ours / the reference with background_enhance + face_upsample (the gateway's defaults),
    wall time of our warm job over the reference's image."""
    background = results.get("background")
    if not background or "skipped" in background.get("reference", {"skipped": 1}):
        return None
    return background["ours"]["jobs"][0]["wall_s"] / background["reference"]["warm_image_s"]


def print_reference(results: dict, warm: list[dict]) -> float | None:
    """Print the reference runs; return ours / reference on the warm plain image (wall time)."""
    ref = results.get("reference")
    if not ref or "skipped" in ref:
        print(f"\nReference: skipped ({ref['skipped']})" if ref else "")
        print_background(results)
        return None
    print(f"\nReference inference_codeformer.py ({ref['dir']}), same photo, options and weights")
    print_reference_run("plain", ref)
    if "parity_psnr_db" in ref:
        print(f"    its output vs the parity fixture's expected.png: {ref['parity_psnr_db']:.1f} dB (>= 60: same run)")
    print_background(results)
    if not warm:
        return None
    ours_wall = statistics.median(j["wall_s"] for j in warm)
    ours_cpu = statistics.median(j["cpu_s"] for j in warm)
    ref_wall, ref_cpu = ref["warm_image_s"], ref["per_image_cpu_s"][-1]
    per_photo = ref["script_s"] / len(ref["per_image_s"])
    print(
        f"  plain: ours warm {ours_wall:.1f} s (CPU {ours_cpu:.1f} s) vs reference warm image {ref_wall:.1f} s"
        f" (CPU {ref_cpu:.1f} s) = {ours_wall / ref_wall:.3f} (CPU {ours_cpu / ref_cpu:.3f});"
        f" whole script per photo {per_photo:.1f} s"
    )
    return ours_wall / ref_wall


def print_background(results: dict) -> None:
    if background_ratio(results) is None:
        return
    theirs = results["background"]["reference"]
    ours = results["background"]["ours"]["jobs"][0]
    print_reference_run("background", theirs)
    print(
        f"  background + face_upsample: ours warm {ours['wall_s']:.1f} s (CPU {ours['cpu_s']:.1f} s) vs "
        f"reference {'warm' if len(theirs['per_image_s']) > 1 else 'first'} image {theirs['warm_image_s']:.1f} s"
        f" (CPU {theirs['per_image_cpu_s'][-1]:.1f} s)"
        f" = {ours['wall_s'] / theirs['warm_image_s']:.3f} (CPU {ours['cpu_s'] / theirs['per_image_cpu_s'][-1]:.3f})"
    )


def print_report(results: dict) -> None:
    print_header(results)
    for part, error in results.get("failed", {}).items():
        print(f"\n{part}: FAILED: {error}")
    if results.get("load_average"):
        loads = ", ".join(f"{p} {v[0]:.1f}" for p, v in results["load_average"].items())
        print(f"\n1-min load average as each part started: {loads}")
    if results.get("first"):
        print_first_job(results["first"])
    if results.get("stages"):
        print_stage_table(results["stages"])
    if results.get("memory"):
        print_memory(results["memory"])
    warm = warm_main_jobs(results)
    ours_warm = statistics.median(j["wall_s"] for j in warm) if warm else None
    forward = statistics.median(j["timings"].get("forward", 0.0) for j in warm) if warm else None
    # sum over sum: one noisy job cannot pair a fast total with a slow forward sum
    total_wall = sum(j["wall_s"] for j in warm)
    total_forward = sum(j["timings"].get("forward", 0.0) for j in warm)
    vs_reference = print_reference(results, warm)
    overhead = total_wall / total_forward if warm and total_forward else None
    if overhead is not None:
        print(
            f"\nMain photo warm: end-to-end {ours_warm:.2f} s, model forwards {forward:.2f} s "
            f"(medians of {len(warm)} jobs; overhead = their summed totals / summed forwards)"
        )
    print(f"benchmark wall time {results.get('bench_wall_s', 0) / 60:.1f} min")
    print(f"overhead: {fmt(overhead, 3) if overhead is not None else 'n/a'}")
    print(f"vs_reference: {fmt(vs_reference, 3) if vs_reference is not None else 'n/a'}")
    vs_reference_bg = background_ratio(results)
    print(f"vs_reference_bg: {fmt(vs_reference_bg, 3) if vs_reference_bg is not None else 'n/a'}")
