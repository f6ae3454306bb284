"""Draw a cascade's DAG: tensors as nodes in dependency layers, Einsums coloured by their pass over m.

Solid arrows are DAG edges; dashed arrows are loop-carried reads of an iterative
tensor's previous step (RD[m1] -> SPD), which the DAG leaves out.
"""

PASS_COLOURS = {1: "#4c72b0", 2: "#dd8452", 3: "#55a868", 4: "#c44e52"}
OTHER_PASS = "#8172b3"
INPUT_COLOUR, NO_PASS_COLOUR, CARRIED = "#ffffff", "#b0b0b0", "#b22222"
NODE_SIZE = 1100  # points^2
INCH_PER_UNIT, MARGIN = 1.1, 0.8  # horizontal scale (inches per node column) and margin (columns)
LEGEND_INCHES, MIN_WIDTH = 2.8, 6.0
SWEEPS = 6  # barycentre ordering sweeps (down, up, ...)


def draw(cascade, path: str) -> None:
    """Write the figure to ``path`` (PNG, SVG or PDF)."""
    from cli.plots.style import pyplot, save, set_title

    plt = pyplot()
    from einsum_cascades.passes import einsum_passes, pass_label

    level, g = einsum_passes(cascade, "m"), cascade.graph
    pos = _layout(g)
    layers = 1 + max(y for _, y in pos.values())
    span = max(x for x, _ in pos.values()) - min(x for x, _ in pos.values())
    width = max(MIN_WIDTH, INCH_PER_UNIT * (span + 2 * MARGIN) + LEGEND_INCHES)
    fig, ax = plt.subplots(figsize=(width, max(4.5, 0.9 * layers + 1.5)))
    xy = {n: (x, -y) for n, (x, y) in pos.items()}
    _edges(ax, g, xy, cascade.loop_carried())
    iterative = {e.output for e in cascade.einsums if e.step_rank}
    for node, (x, y) in xy.items():
        kind = g.nodes[node]["kind"]
        ax.scatter([x], [y], s=NODE_SIZE, c=[_colour(g, node, level)], zorder=3, linewidths=2.2 if node in iterative
                   else 1.0, edgecolors=CARRIED if node in iterative else "black")
        ax.text(x, y, node, ha="center", va="center", fontsize=8.5, fontweight="bold", zorder=4,
                color="black" if kind == "input" else "white")
    labels = {p: f"pass {pass_label(cascade, p)}" for p in set(level.values()) - {0}}
    ax.legend(handles=_legend(plt, labels, 0 in level.values(), bool(iterative)), loc="upper right", frameon=True,
              title="passes over m", title_fontsize=9)
    passes = cascade.passes().get("m")
    count = f"{passes} pass{'es' * (passes != 1)} over m" if passes else "no rank m"
    set_title(ax, f"{cascade.name}: {count}", cascade.summary)
    left = min(x for x, _ in xy.values()) - MARGIN
    ax.set_xlim(left, left + width / INCH_PER_UNIT)  # the legend sits in the room right of the drawing
    ax.set_ylim(-layers + 0.4, 0.6)
    ax.axis("off")
    save(fig, path)


def _edges(ax, g, xy: dict, carried: list) -> None:
    """DAG edges (straight between adjacent layers, curved when they skip layers) and loop-carried reads."""
    from matplotlib.patches import FancyArrowPatch

    def arrow(a, b, rad, **style):
        ax.add_patch(FancyArrowPatch(xy[a], xy[b], connectionstyle=f"arc3,rad={rad}", arrowstyle="-|>",
                                     mutation_scale=11, shrinkA=17, shrinkB=17, zorder=2, **style))

    for a, b in g.edges:
        arrow(a, b, 0.0 if xy[a][1] - xy[b][1] <= 1 else 0.25, color="#666666", lw=1.0)
    for a, b in carried:
        if a != b:  # a tensor reading its own previous step is marked on the node instead
            arrow(a, b, 0.35, color=CARRIED, lw=1.2, linestyle="--")


def _layout(g) -> dict:
    """Node -> (x, layer). Layer: just above the node's first reader (outputs: longest path from an input).
    Order within a layer: a few barycentre sweeps, so edges cross and pass through nodes less."""
    import networkx as nx

    order = list(nx.topological_sort(g))
    layer = {}
    for node in order:
        layer[node] = max((layer[p] + 1 for p in g.predecessors(node)), default=0)
    for node in reversed(order):  # then as late as possible: a node sits just above its first reader
        if g.out_degree(node):
            layer[node] = min(layer[s] for s in g.successors(node)) - 1
    rows: dict[int, list] = {}
    for node in g.nodes:  # start from file order
        rows.setdefault(layer[node], []).append(node)
    x = _centred(rows)
    for sweep in range(SWEEPS):
        neighbours = g.predecessors if sweep % 2 == 0 else g.successors
        for y in sorted(rows, reverse=sweep % 2 == 1):
            rows[y].sort(key=lambda n: _mean([x[m] for m in neighbours(n)], x[n]))
            x.update(_centred({y: rows[y]}))
    return {n: (x[n], layer[n]) for n in g.nodes}


def _centred(rows: dict) -> dict:
    return {n: i - (len(nodes) - 1) / 2 for nodes in rows.values() for i, n in enumerate(nodes)}


def _mean(values: list, default: float) -> float:
    return sum(values) / len(values) if values else default


def _colour(g, node: str, level: dict) -> str:
    if g.nodes[node]["kind"] == "input":
        return INPUT_COLOUR
    return PASS_COLOURS.get(level[node], OTHER_PASS) if level[node] else NO_PASS_COLOUR


def _legend(plt, labels: dict, no_pass: bool, iterative: bool) -> list:
    def dot(colour, label):
        return plt.Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor=colour,
                          markeredgecolor="black", label=label)

    handles = [dot(PASS_COLOURS.get(p, OTHER_PASS), labels[p]) for p in sorted(labels)]
    if no_pass:
        handles.append(dot(NO_PASS_COLOUR, "does not walk m"))
    handles.append(dot(INPUT_COLOUR, "input"))
    if iterative:
        handles.append(plt.Line2D([], [], marker="o", ls="", markersize=11, markerfacecolor="none",
                                  markeredgecolor=CARRIED, markeredgewidth=2.2, label="iterative (reads its last step)"))
        handles.append(plt.Line2D([], [], ls="--", color=CARRIED, label="read of a previous step"))
    return handles
