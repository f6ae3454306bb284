"""Draw a cascade's DAG with its Einsums coloured by pass over m."""


def draw(cascade, path: str) -> None:
    from cli.plots.style import pyplot, save

    plt = pyplot()
    import networkx as nx

    from einsum_cascades.passes import pass_levels, families

    fam_of = families(cascade)
    level = pass_levels(cascade, "m", fam_of) if "m" in set(fam_of.values()) else {}
    g = cascade.graph.copy()
    for t in cascade.inputs:
        g.add_node(t)
    for e in cascade.einsums:
        for acc in e.reads:
            if acc.tensor in cascade.inputs:
                g.add_edge(acc.tensor, e.output)
    layer = {}
    for node in nx.topological_sort(g):
        layer[node] = max((layer[p] + 1 for p in g.predecessors(node)), default=0)
    nx.set_node_attributes(g, layer, "layer")
    pos = nx.multipartite_layout(g, subset_key="layer", align="horizontal", scale=2)
    pos = {n: (x, -y) for n, (x, y) in pos.items()}
    colours = {0: "#d0d0d0", 1: "#4c72b0", 2: "#dd8452", 3: "#55a868", 4: "#c44e52"}
    node_colour = [colours.get(level.get(n, 0), "#8172b3") for n in g.nodes]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * max(layer.values()) + 4), 7))
    nx.draw_networkx_edges(g, pos, ax=ax, arrows=True, arrowsize=12, edge_color="#777777", node_size=1600)
    nx.draw_networkx_nodes(g, pos, ax=ax, node_color=node_colour, node_size=1600, edgecolors="black")
    nx.draw_networkx_labels(g, pos, ax=ax, font_size=9, font_color="white", font_weight="bold")
    passes = sorted({v for v in level.values() if v})
    handles = [plt.Line2D([], [], marker="o", ls="", markersize=12, markerfacecolor=colours.get(p, "#8172b3"),
                          markeredgecolor="black", label=f"pass {p} over m") for p in passes]
    handles.append(plt.Line2D([], [], marker="o", ls="", markersize=12, markerfacecolor=colours[0],
                              markeredgecolor="black", label="input / no pass over m"))
    ax.legend(handles=handles, loc="lower right", frameon=True)
    ax.set_title(f"{cascade.name}: {cascade.passes().get('m', 1)} pass(es) over m\n{cascade.summary}", fontsize=10)
    ax.axis("off")
    save(fig, path)
