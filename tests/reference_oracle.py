"""An independent oracle of the reference ACDC implementation, for tests only.

It re-implements, as literally as practical, the mechanics of ArthurConmy/Automatic-Circuit-Discovery
(`acdc/TLACDCCorrespondence.py` and `acdc/TLACDCExperiment.py` at f5435d8, run the way `acdc/main.py`
runs it: names_mode and indices_mode "normal", sender hooks on, receiver hooks added lazily), on a
TransformerLens HookedTransformer. It deliberately imports nothing from `acdc_tui`.

Indices are the reference's TorchIndex hashable tuples: (None,) for a whole hook, (None, None, h)
for head h. Node kinds are the reference's incoming edge types.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

ADDITION, DIRECT_COMPUTATION, PLACEHOLDER = "ADDITION", "DIRECT_COMPUTATION", "PLACEHOLDER"
INPUT_NAMES = ("blocks.0.hook_resid_pre", "hook_pos_embed", "hook_embed")
WHOLE = (None,)


def as_index(index: tuple) -> tuple:  # TorchIndex.as_index
    return tuple(slice(None) if i is None else i for i in index)


def add_to_every_hook_point(model, fn):
    """As model.cache_all, on each HookPoint itself (the model's add_hook refuses disabled ones such as hook_attn_in)."""
    for hook_point in model.hook_dict.values():
        hook_point.add_hook(fn)


def head_of(index: tuple):
    return index[2] if len(index) == 3 else None


class Edge:  # TLACDCEdge.Edge
    def __init__(self, edge_type: str):
        self.edge_type, self.present = edge_type, True


class Correspondence:
    """TLACDCCorrespondence: graph[name][index] -> incoming edge type;
    edges[child_name][child_index][parent_name][parent_index] -> Edge (all insertion-ordered)."""

    def __init__(self):
        self.graph: OrderedDict = OrderedDict()
        self.edges: OrderedDict = OrderedDict()

    def add_node(self, name, index, incoming_edge_type):
        self.graph.setdefault(name, OrderedDict())[index] = incoming_edge_type

    def add_edge(self, parent, child, edge_type):
        (pn, pi), (cn, ci) = parent, child
        by_ci = self.edges.setdefault(cn, OrderedDict()).setdefault(ci, OrderedDict())
        by_ci.setdefault(pn, OrderedDict())[pi] = Edge(edge_type)

    def remove_edge(self, cn, ci, pn, pi):
        """remove_edge: mark absent, delete it, and delete every level of the dict left empty."""
        self.edges[cn][ci][pn][pi].present = False
        del self.edges[cn][ci][pn][pi]
        if not self.edges[cn][ci][pn]:
            del self.edges[cn][ci][pn]
        if not self.edges[cn][ci]:
            del self.edges[cn][ci]
        if not self.edges[cn]:
            del self.edges[cn]

    @classmethod
    def setup_from_model(cls, cfg, use_pos_embed: bool) -> "Correspondence":
        """TLACDCCorrespondence.setup_from_model (hook_mlp_in version, PLACEHOLDER mlp_in -> mlp_out)."""
        corr = cls()
        logits_node = (f"blocks.{cfg.n_layers - 1}.hook_resid_post", WHOLE)
        corr.add_node(*logits_node, ADDITION)
        downstream = [logits_node]  # residual-stream readers so far
        for layer in range(cfg.n_layers - 1, -1, -1):
            if not cfg.attn_only:
                mlp_out, mlp_in = (f"blocks.{layer}.hook_mlp_out", WHOLE), (f"blocks.{layer}.hook_mlp_in", WHOLE)
                corr.add_node(*mlp_out, PLACEHOLDER)
                for reader in downstream:
                    corr.add_edge(mlp_out, reader, ADDITION)
                corr.add_node(*mlp_in, ADDITION)
                corr.add_edge(mlp_in, mlp_out, PLACEHOLDER)
                downstream.append(mlp_in)
            new_downstream = []
            for h in range(cfg.n_heads - 1, -1, -1):
                result = (f"blocks.{layer}.attn.hook_result", (None, None, h))
                corr.add_node(*result, PLACEHOLDER)
                for reader in downstream:
                    corr.add_edge(result, reader, ADDITION)
                for letter in "qkv":
                    qkv = (f"blocks.{layer}.attn.hook_{letter}", (None, None, h))
                    qkv_input = (f"blocks.{layer}.hook_{letter}_input", (None, None, h))
                    corr.add_node(*qkv, DIRECT_COMPUTATION)
                    corr.add_node(*qkv_input, ADDITION)
                    corr.add_edge(qkv, result, PLACEHOLDER)
                    corr.add_edge(qkv_input, qkv, DIRECT_COMPUTATION)
                    new_downstream.append(qkv_input)
            downstream.extend(new_downstream)
        embed_names = ["hook_embed", "hook_pos_embed"] if use_pos_embed else ["blocks.0.hook_resid_pre"]
        for name in embed_names:
            corr.add_node(name, WHOLE, PLACEHOLDER)
            for reader in downstream:
                corr.add_edge((name, WHOLE), reader, ADDITION)
        return corr


class ReferenceAcdc:
    """TLACDCExperiment, reduced to what decides edges. Call `run()`, then read `decisions` and
    `present_edges()`."""

    def __init__(self, model, clean, patch, metric, threshold, zero_ablation=False, abs_value_threshold=False, use_pos_embed=False):
        model.reset_hooks()
        self.model, self.ds, self.metric = model, clean, metric
        self.threshold, self.zero_ablation, self.abs_value_threshold = threshold, zero_ablation, abs_value_threshold
        self.use_pos_embed = use_pos_embed
        # zero ablation with no patch data runs the corrupted pass on the clean data
        self.ref_ds = clean.clone() if (zero_ablation and patch is None) else patch
        assert self.ref_ds is not None, "corrupted ablation needs patch tokens"
        self.corr = Correspondence.setup_from_model(model.cfg, use_pos_embed)
        self.reverse_topologically_sort_corr()
        self.order = [(name, index) for name in self.corr.graph for index in self.corr.graph[name]]
        self.position = 0
        self.current_node = self.order[0]  # corr.first_node()
        self.online_cache: dict = {}
        self.corrupted_cache: dict = {}
        self.decisions: list = []  # (sender, sender_head, receiver, receiver_head, result, removed)
        self.setup_corrupted_cache()
        self.add_all_sender_hooks()
        self.cur_metric = self.compute_metric()  # update_cur_metric(recalc_metric=True)

    def compute_metric(self) -> float:
        """update_cur_metric: the metric of a forward pass on the clean data with the current hooks."""
        with torch.inference_mode():
            return self.metric(self.model(self.ds)).item()

    def reverse_topologically_sort_corr(self):
        """Reorder graph names by the reversed order in which a forward pass fires the hooks."""
        cache: OrderedDict = OrderedDict()
        add_to_every_hook_point(self.model, lambda z, hook: cache.__setitem__(hook.name, z))
        cfg = self.model.cfg
        with torch.inference_mode():
            self.model(torch.arange(min(10, cfg.d_vocab, cfg.n_ctx), device=cfg.device).unsqueeze(0))
        self.model.reset_hooks()
        fired = list(cache)[::-1]
        self.corr.graph = OrderedDict((name, self.corr.graph[name]) for name in fired if name in self.corr.graph)

    def setup_corrupted_cache(self):
        """setup_corrupted_cache: cache every hook on the patch data (zeroing hooks first, for zero
        ablation; positional embeddings permuted with shuffle_tensor(seed=49) for pos-embed tasks)."""
        if self.zero_ablation:
            subs = ["hook_result", "mlp_out"] + (["hook_pos_embed", "hook_embed"] if self.use_pos_embed else ["blocks.0.hook_resid_pre"])
            self.model.add_hook(lambda name: any(s in name for s in subs), lambda z, hook: torch.zeros_like(z))
        if self.use_pos_embed and not self.zero_ablation:

            def scramble_positions(z, hook):  # z[:] = shuffle_tensor(z[0], seed=49)
                torch.random.manual_seed(49)
                shuffled = z[0][torch.randperm(z[0].shape[0])]
                return shuffled.unsqueeze(0).expand_as(z).clone()

            self.model.add_hook("hook_pos_embed", scramble_positions)
        add_to_every_hook_point(self.model, lambda z, hook: self.corrupted_cache.__setitem__(hook.name, z.clone()))
        with torch.inference_mode():
            self.model(self.ref_ds)
        self.model.reset_hooks()

    def add_all_sender_hooks(self):
        """add_all_sender_hooks(add_all_hooks=True): cache online activations at both ends of every
        ADDITION / DIRECT_COMPUTATION edge (one hook per hook point suffices: they all store the same)."""
        names = OrderedDict()
        for cn, by_ci in self.corr.edges.items():
            for by_pn in by_ci.values():
                for pn, by_pi in by_pn.items():
                    if any(e.edge_type != PLACEHOLDER for e in by_pi.values()):
                        names[cn] = names[pn] = True
        for name in names:
            self.model.add_hook(name, lambda z, hook: self.online_cache.__setitem__(hook.name, z))

    def receiver_hook(self, hook_point_input, hook):
        """receiver_hook: start from the corrupted activation and patch back what is still present."""
        name = hook.name
        by_ri = self.corr.edges.get(name, {})
        types = [self.corr.graph[name][ri] for ri in by_ri]
        out = self.corrupted_cache[name].clone()
        if DIRECT_COMPUTATION in types:  # a head's q/k/v: restore the heads whose edge is present
            for ri, by_pn in by_ri.items():
                if any(e.present for by_pi in by_pn.values() for e in by_pi.values()):
                    out[as_index(ri)] = hook_point_input[as_index(ri)]
            return out
        for ri, by_pn in by_ri.items():  # ADDITION: corrupted + sum over present senders (online - corrupted)
            for pn, by_pi in by_pn.items():
                for pi, edge in by_pi.items():
                    if edge.present:
                        out[as_index(ri)] += self.online_cache[pn][as_index(pi)]
                        out[as_index(ri)] -= self.corrupted_cache[pn][as_index(pi)]
        return out

    def step(self):
        """TLACDCExperiment.step: test every incoming edge of the current node, then move on."""
        if self.current_node is None:
            return
        name, index = self.current_node
        self.cur_metric = self.compute_metric()
        if self.corr.graph[name][index] != PLACEHOLDER:
            self.model.add_hook(name, self.receiver_hook, prepend=True)  # add_receiver_hook(prepend=True)
        parents = self.corr.edges.get(name, {}).get(index, {})
        for sender_name in list(parents):  # names_mode "normal"
            for sender_index in list(parents[sender_name]):  # indices_mode "normal"
                edge = parents[sender_name][sender_index]
                if edge.edge_type == PLACEHOLDER:
                    continue  # included by default
                edge.present = False
                old_metric = self.cur_metric
                self.cur_metric = self.compute_metric()
                result = self.cur_metric - old_metric
                score = abs(result) if self.abs_value_threshold else result
                removed = score < self.threshold
                if removed:
                    self.corr.remove_edge(name, index, sender_name, sender_index)
                else:
                    self.cur_metric = old_metric
                    edge.present = True
                self.decisions.append((sender_name, head_of(sender_index), name, head_of(index), result, removed))
            self.cur_metric = self.compute_metric()  # recomputed after each sender name
        self.increment_current_node()

    def find_next_node(self):  # next index of this name, else first index of the next name
        self.position += 1
        return self.order[self.position] if self.position < len(self.order) else None

    def increment_current_node(self):
        while True:
            self.current_node = self.find_next_node()
            if self.current_node is None or self.current_node_connected() or self.current_node[0] in INPUT_NAMES:
                break

    def current_node_connected(self) -> bool:
        """True iff some present edge leaves the current node; otherwise remove all its incoming edges
        untested. (The reference's before/after metric passes and its 3e-3 assert are left out.)"""
        name, index = self.current_node
        for by_ci in self.corr.edges.values():
            for by_pn in by_ci.values():
                if name in by_pn and index in by_pn[name] and by_pn[name][index].present:
                    return True
        for pn in list(self.corr.edges.get(name, {}).get(index, {})):
            for pi in list(self.corr.edges[name][index][pn]):
                self.corr.remove_edge(name, index, pn, pi)
        return False

    def run(self) -> "ReferenceAcdc":
        try:
            while self.current_node is not None:
                self.step()
        finally:
            self.model.reset_hooks()
        return self

    def present_edges(self) -> set:
        """(sender, sender_head, receiver, receiver_head) of every edge still in the graph, placeholders included."""
        return {(pn, head_of(pi), cn, head_of(ci)) for cn, by_ci in self.corr.edges.items() for ci, by_pn in by_ci.items()
                for pn, by_pi in by_pn.items() for pi, edge in by_pi.items() if edge.present}
