"""Narrow the stacked inputs and outputs of scans.

Reverse-mode AD through a scan stacks every residual the backward loop needs as a
`ys` output of the forward loop and reads it back as an `xs` input, one slice per
iteration. Many of them carry less information than their shape: the same body
value stacked twice, a loop constant stacked `length` times, a broadcast of a
scalar stacked at full width. Each costs a loop nest that writes it, memory, and a
read per iteration. This pass rewrites

  ys  output `y` whose body value is
      a Literal or a constant operand   ->  broadcast_in_dim of it, after the loop
      an xs slice                       ->  that xs operand itself
      the value of an earlier ys output ->  that output
      broadcast_in_dim u (u smaller)    ->  u stacked, broadcast after the loop
  xs  operand `X = broadcast_in_dim w`
      with the scan axis taken from w   ->  w's slices, broadcast in the body
      with the scan axis broadcast      ->  w as a constant, broadcast in the body
  carry that the body returns unchanged ->  a constant; its final value is its init
  the same operand passed twice         ->  one body input

so a broadcast residual moves through both loops as its small source, and the
broadcast runs where it is read (the backend fuses it into its consumers as index
arithmetic). Every rewrite moves values, it computes nothing differently, so
results are bitwise the same. Inner scans are rewritten first; DCE removes what the
body no longer needs.
"""
from __future__ import annotations

from ..ir import control_flow as CF
from ..ir import primitives as P
from ..ir.core import Eqn, Literal, ShapedArray, Var
from .dce import has_subirs, map_subirs


def narrow_scan_io(ir):
    """`ir` with the scans rewritten as above (their sub-IRs too); `ir` itself when
    nothing changes."""
    return _narrow(ir, {})


def _narrow(ir, memo):
    if not any(has_subirs(e) for e in ir.eqns):
        return ir
    defs, subst, eqns = {}, {}, []
    changed = False
    for e in ir.eqns:
        if subst and any(isinstance(a, Var) and a in subst for a in e.inputs):
            e = e.replace(inputs=[subst.get(a, a) if isinstance(a, Var) else a
                                  for a in e.inputs])
            changed = True
        new = map_subirs(e, lambda s: _narrow(s, memo), memo)
        changed |= new is not e
        e = new
        if e.prim is CF.scan_p:
            rewritten = _narrow_scan(e, defs)
            if rewritten is not None:
                changed = True
                e, after, renamed = rewritten
                # broadcasts now defined in the body may make its inner scans' xs
                # narrowable: one more visit, so nesting depth costs no pipeline rounds
                e = map_subirs(e, lambda s: _narrow(s, memo), memo)
                subst.update(renamed)
                eqns.append(e)
                eqns.extend(after)
                for d in [e] + after:
                    for o in d.outputs:
                        defs[o] = d
                continue
        for o in e.outputs:
            defs[o] = e
        eqns.append(e)
    if not changed:
        return ir
    outvars = [subst.get(v, v) if isinstance(v, Var) else v for v in ir.outvars]
    return ir.replace(eqns=eqns, outvars=outvars)


def _broadcast(src, out, dims):
    return Eqn(P.broadcast_in_dim_p, [src], [out],
               {"shape": tuple(out.aval.shape), "broadcast_dimensions": tuple(dims)})


def _stacked(v, n):
    return Var(ShapedArray((n,) + tuple(v.aval.shape), v.aval.dtype))


def _renamed(q, alias):
    if not any(isinstance(a, Var) and a in alias for a in q.inputs):
        return q
    return q.replace(inputs=[alias.get(a, a) if isinstance(a, Var) else a for a in q.inputs])


def _narrow_scan(e, defs):
    """(new scan, equations after it, {old output: atom}) or None."""
    p = e.params
    body, n = p["body"], p["length"]
    nc, nk = p["num_consts"], p["num_carry"]
    consts = list(zip(body.invars[:nc], e.inputs[:nc]))
    carries = list(zip(body.invars[nc:nc + nk], e.inputs[nc:nc + nk],
                       body.outvars[:nk], e.outputs[:nk]))
    xs = list(zip(body.invars[nc + nk:], e.inputs[nc + nk:]))
    head = []  # body equations defining replaced xs slices
    after, renamed = [], {}
    changed = False

    # carries the body returns unchanged are constants
    kept_carries = []
    for v, init, out_v, out in carries:
        if out_v is v:
            consts.append((v, init))
            renamed[out] = init
            changed = True
        else:
            kept_carries.append((v, init, out_v, out))

    # xs operands that are broadcasts: their source goes in instead
    new_xs = []
    for x, X in xs:
        d = defs.get(X) if isinstance(X, Var) else None
        if d is not None and d.prim is P.broadcast_in_dim_p and isinstance(d.inputs[0], Var):
            w, bd = d.inputs[0], d.params["broadcast_dimensions"]
            if bd and bd[0] == 0 and w.aval.shape[0] == n and w.aval.size < X.aval.size:
                xw = Var(ShapedArray(w.aval.shape[1:], w.aval.dtype))
                head.append(_broadcast(xw, x, [k - 1 for k in bd[1:]]))
                new_xs.append((xw, w))
                changed = True
                continue
            if not bd or bd[0] != 0:  # the scan axis is a broadcast one: x is a constant
                cw = Var(w.aval)
                head.append(_broadcast(cw, x, [k - 1 for k in bd]))
                consts.append((cw, w))
                changed = True
                continue
        new_xs.append((x, X))

    # one body input per distinct operand: the others are renamed to it
    alias, first = {}, {}
    for group in (consts, new_xs):
        kept = []
        for v, a in group:
            key = (group is consts, a)
            if isinstance(a, Var) and key in first:
                alias[v] = first[key]
                changed = True
            else:
                if isinstance(a, Var):
                    first[key] = v
                kept.append((v, a))
        group[:] = kept
    body_eqns = head + body.eqns
    if alias:
        body_eqns = [_renamed(q, alias) for q in body_eqns]
        kept_carries = [(v, init, alias.get(o, o) if isinstance(o, Var) else o, out)
                        for v, init, o, out in kept_carries]

    # ys
    bdefs = {o: q for q in body_eqns for o in q.outputs}
    x_operand = {x: X for x, X in new_xs}
    const_operand = dict(consts)
    ys_out = []  # (body value, outer output) kept as stacked outputs
    stacked_of = {}  # body value -> outer atom holding it stacked

    def stack(u, out=None):
        """An outer atom holding body value `u` stacked (`out`: the name to use for
        it if a new one is made)."""
        if not isinstance(u, Literal) and u in stacked_of:
            return stacked_of[u]
        atom = out if out is not None else _stacked(u, n)
        q = None if isinstance(u, Literal) else bdefs.get(u)
        if isinstance(u, Literal) or u in const_operand:  # one value in every iteration
            src = u if isinstance(u, Literal) else const_operand[u]
            after.append(_broadcast(src, atom, range(1, atom.aval.ndim)))
        elif u in x_operand:
            atom = x_operand[u]
        elif (q is not None and q.prim is P.broadcast_in_dim_p
              and isinstance(q.inputs[0], Var) and q.inputs[0].aval.size < u.aval.size):
            bd = q.params["broadcast_dimensions"]
            after.append(_broadcast(stack(q.inputs[0]), atom, [0] + [k + 1 for k in bd]))
        else:
            ys_out.append((u, atom))
        if not isinstance(u, Literal):
            stacked_of[u] = atom
        return atom

    ys = [(alias.get(y, y) if isinstance(y, Var) else y, Y)
          for y, Y in zip(body.outvars[nk:], e.outputs[nk:])]
    for y, Y in ys:
        atom = stack(y, Y)
        if atom is not Y:
            renamed[Y] = atom
    if [u for u, _ in ys_out] != [y for y, _ in ys] or [Y for _, Y in ys_out] != [Y for _, Y in ys]:
        changed = True
    if not changed:
        return None

    new_body = body.replace(
        invars=[v for v, _ in consts] + [c[0] for c in kept_carries] + [x for x, _ in new_xs],
        eqns=body_eqns,
        outvars=[c[2] for c in kept_carries] + [u for u, _ in ys_out])
    new = Eqn(CF.scan_p,
              [a for _, a in consts] + [c[1] for c in kept_carries] + [X for _, X in new_xs],
              [c[3] for c in kept_carries] + [Y for _, Y in ys_out],
              {**p, "body": new_body, "num_consts": len(consts),
               "num_carry": len(kept_carries)},
              e.source)
    for q in after:
        q.source = e.source
    return new, after, renamed
