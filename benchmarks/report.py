"""Output: Markdown tables, JSON, a PNG of the ratios, the README section."""
from __future__ import annotations

import json
import os
import platform
import re
import time

README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform()}


def versions():
    import importlib.metadata as md

    out = {}
    for pkg in ("numpy", "numba", "llvmlite", "jax", "jaxlib", "autograd", "pullback"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


def fmt_time(s):
    if s is None:
        return "—"
    if s < 1e-6:
        return f"{s * 1e9:.0f} ns"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1.0:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


def fmt_ratio(r):
    return "—" if r is None else f"{r:.2f}×"


def _cell_text(cell, key):
    status = cell.get("status", "")
    if status == "ok":
        return fmt_time(cell.get(key))
    if status.startswith("skipped"):
        return "skipped"
    if status.startswith("n/a"):
        return "n/a"
    if status.startswith("wrong result"):
        return "wrong result"
    # Details go to the list under the tables; cells stay short.
    return status.split(":")[0] or "—"


def _startup_split(data, names):
    """': import a-b s, Numba b-c s, backend c-d s' over the warm-cache processes."""
    warms = [data["workloads"][n].get("warm_cache", {}) for n in names]
    parts = []
    for key, label in (("import_s", "import"), ("numba_startup_s", "Numba"),
                       ("backend_import_s", "backend set-up")):
        vals = [w[key] for w in warms if w.get("status") == "ok" and key in w]
        if vals:
            lo, hi = min(vals), max(vals)
            parts.append(f"{label} {fmt_time(lo)}" + (f"–{fmt_time(hi)}" if hi > lo else ""))
    return ": " + ", ".join(parts) if parts else ""


def markdown(data):
    systems = data["meta"]["systems"]
    labels = data["meta"]["labels"]
    names = list(data["workloads"])
    lines = []
    head = ["workload"] + [labels[s] for s in systems]

    def table(title, rows, header):
        lines.append(f"**{title}**")
        lines.append("")
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        for row in rows:
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    rows = []
    for n in names:
        w = data["workloads"][n]
        r = w.get("ratios", {})
        rows.append([n] + [_cell_text(w["cells"].get(s, {}), "median_s") for s in systems]
                    + [fmt_ratio(r.get("pullback/jax")), fmt_ratio(r.get("pullback/numba"))])
    table("Steady state, median time per call", rows,
          head + ["pullback/JAX", "pullback/Numba"])

    rows = []
    for n in names:
        w = data["workloads"][n]
        r = w.get("ratios", {})
        warm = w.get("warm_cache", {})
        if warm.get("status") == "ok":
            startup = sum(warm.get(k) or 0.0 for k in
                          ("import_s", "numba_startup_s", "backend_import_s"))
            warm_txt = f"{fmt_time(warm['first_call_s'])} (+{fmt_time(startup)} start-up)"
            # Say so when the new process compiled anyway (e.g. the backend's sources
            # changed between the two processes, which changes the cache key).
            if warm.get("cache_stats", {}).get("numba_compiles"):
                warm_txt += " cache missed"
            elif "first_attempt" in warm:
                warm_txt += " (2nd try†)"
        else:
            warm_txt = (warm.get("status") or "—").split(":")[0]
        warm_ratio = r.get("warm_cache pullback/jax first")
        rows.append([n] + [_cell_text(w["cells"].get(s, {}), "first_call_s") for s in systems]
                    + [warm_txt, fmt_ratio(r.get("first_call pullback/jax")),
                       fmt_ratio(warm_ratio)])
    table("First call (trace + optimize + compile + run; fresh function object)", rows,
          head + ["pullback, new process, warm disk cache", "pullback/JAX first",
                  "warm-cache pullback/JAX first"])

    rows = []
    for n in names:
        c = data["workloads"][n].get("eqn_counts", {})

        def txt(k):
            v = c.get(k, "—")
            return str(v) if isinstance(v, int) else str(v).split(":")[0]
        rows.append([n, txt("pullback_raw"), txt("pullback_opt"), txt("jax"), txt("jax_inlined")])
    table("IR equation counts", rows,
          ["workload", "pullback raw", "pullback optimized", "JAX jaxpr", "JAX (sub-jaxprs inlined)"])

    lines.append("First calls exclude each library's one-time start-up (a trivial jit per "
                 "library runs first) and are one sample each (a first call happens once per "
                 "process; medians of fresh processes for pullback and JAX: "
                 "`python -m benchmarks.compile_time`). The warm-cache column is pullback's first call in a new "
                 "process reusing this run's PULLBACK_CACHE_DIR; the start-up it pays on top "
                 "(import pullback + Numba's LLVM initialisation + the numba backend's "
                 "set-up at the first pb.jit(...): code generator, kernel helper modules, "
                 "pass pipeline) is in parentheses" + _startup_split(data, names) + "."
                 + (" † the first new process missed the cache (it compiled: the backend's "
                    "own sources, part of the key, were being edited during the run); the "
                    "number is from a second new process, and the JSON keeps both."
                    if any("first_attempt" in data["workloads"][n].get("warm_cache", {})
                           for n in names) else ""))
    lines.append("")
    shrunk = [f"{n}: {data['workloads'][n]['quick_size']}" for n in names
              if data["workloads"][n].get("quick_size")]
    if shrunk:
        lines.append("--quick sizes (smaller than a full run's): " + "; ".join(shrunk) + ".")
        lines.append("")
    for n in names:
        for fname, f in data["workloads"][n].get("floors", {}).items():
            if f.get("status") == "ok":
                lines.append(f"- {n}: {fname}: {fmt_time(f['median_s'])} per call.")
        for s, cell in data["workloads"][n]["cells"].items():
            if s.startswith("extra:") and cell.get("status") == "ok":
                lines.append(f"- {n}: {cell['label']}: {fmt_time(cell['median_s'])} per call "
                             f"(first call {fmt_time(cell['first_call_s'])}).")
    problems = []
    for n in names:
        for s, cell in data["workloads"][n]["cells"].items():
            st = cell.get("status", "")
            if st != "ok" and not st.startswith(("skipped", "n/a")):
                problems.append(f"- {n} / {s}: {st}")
        warm = data["workloads"][n].get("warm_cache", {})
        if warm and warm.get("status") != "ok":
            problems.append(f"- {n} / warm-cache process: {warm.get('status')}")
        for k, v in data["workloads"][n].get("eqn_counts", {}).items():
            if isinstance(v, str) and v.startswith("error"):
                problems.append(f"- {n} / equation count {k}: {v}")
    if problems:
        lines.append("")
        lines.append("Cells that did not run:")
        lines.extend(problems)
    skipped = sorted({f"{s}: {cell['status'][9:]}" for w in data["workloads"].values()
                      for s, cell in w["cells"].items()
                      if cell.get("status", "").startswith("skipped")})
    if skipped:
        lines.append("")
        lines.append("Skipped peers: " + "; ".join(skipped))
    return "\n".join(lines).rstrip() + "\n"


def header(data):
    m = data["meta"]
    mach = m["machine"]
    v = m["versions"]
    vs = ", ".join(f"{k} {val}" for k, val in v.items() if val)
    return (f"Measured {m['date']} on {mach['cpu']} ({mach['cores']} cores, pinned to core "
            f"{m.get('pinned_cpu')}), Python {mach['python']}, {vs}; one thread per library, "
            f"glibc trimming off{', --quick' if m.get('quick') else ''}. Command: "
            f"`{m['command']}`.\n")


def write_json(data, path):
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=False, default=str)


def plot(data, path):
    """Bar chart of pullback's ratios on a log scale. Returns None or why it could not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib not installed (pip install -e .[bench]); no plot written"
    keys = [("pullback/jax", "steady state vs JAX"), ("pullback/numba", "steady state vs Numba"),
            ("first_call pullback/jax", "first call vs JAX"),
            ("warm_cache pullback/jax first", "first call, warm disk cache, vs JAX")]
    names = list(data["workloads"])
    fig, ax = plt.subplots(figsize=(max(7, 1.4 * len(names) + 2), 5))
    width = 0.8 / len(keys)
    for i, (k, label) in enumerate(keys):
        vals = [data["workloads"][n].get("ratios", {}).get(k) for n in names]
        xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(names))]
        ax.bar([x for x, v in zip(xs, vals) if v], [v for v in vals if v], width, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=20, ha="right")
    ax.set_ylabel("pullback time / peer time (lower is better)")
    ax.set_title("pullback jit against JAX jit and hand-written Numba")
    # Below the axes, so the legend never hides a bar.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(keys), fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def readme_section(data, plot_path=None):
    body = header(data) + "\n" + markdown(data)
    if plot_path:
        body += f"\n![pullback / peer time ratios]({plot_path})\n"
    return f"{README_START}\n{body}{README_END}"


def update_readme(path, data, plot_path=None):
    """Replace the text between the markers (appending a section if there are none)."""
    section = readme_section(data, plot_path)
    text = open(path).read() if os.path.exists(path) else ""
    if README_START in text and README_END in text:
        pattern = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
        text = pattern.sub(lambda _: section, text, count=1)
    else:
        text = text.rstrip() + ("\n\n" if text else "") + "## Benchmarks\n\n" + section + "\n"
    with open(path, "w") as fh:
        fh.write(text)


def now():
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
