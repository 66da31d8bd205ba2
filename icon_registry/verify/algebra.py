"""Deciding symbolic equalities: simplification first, high-precision random points as fallback.

``decide_equal(lhs, rhs)`` returns a ``Decision``:
- ``equal`` False: the two sides differ at a random point (30 significant digits); the point
  and both values are the counterexample. This is decided first and is cheap.
- ``equal`` True and ``proved`` True: the difference simplified to exactly 0
  (expand_log(force=True), powsimp, cancel, and SymPy's simplify on small residuals).
- ``equal`` True and ``proved`` False: simplification was inconclusive; the sides agree to
  30 digits at ``points`` random points ("numerically verified", never called "proved").
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Optional

import sympy

DIGITS = 30
POINTS = 3
#: simplify() only runs on residuals at most this big (count_ops); beyond it, numbers decide
SIMPLIFY_MAX_OPS = 250
#: CPU seconds of this process (``time_box``) a simplification may take
SIMPLIFY_SECONDS = 2.0
#: beyond this size (count_ops of the difference) no simplification is attempted at all
SKIP_PROOF_OPS = 3000


@dataclass
class Decision:
    equal: bool
    proved: bool = False
    points: int = 0
    residual: Optional[sympy.Expr] = None  # the (partly) simplified lhs - rhs
    counterexample: Optional[dict] = None
    steps: list = field(default_factory=list)

    @property
    def method(self) -> str:
        if not self.equal:
            return ""
        return "proved" if self.proved else "numeric"


#: name -> the declared parameter (its default, min, max) of the entry being verified; a positive
#: symbol of that name is sampled over the declared range (``verify.runner`` sets it per entry)
PARAM_SPECS: contextvars.ContextVar = contextvars.ContextVar("icon_param_specs", default={})
#: the cycle a parameter's value follows over consecutive seeds: its default, the low and high
#: ends of its declared range, then a random point across it
PARAM_CYCLE = ("default", "low", "high", "random")


@contextlib.contextmanager
def parameter_ranges(specs: dict):
    """Sample the parameters named in ``specs`` over their declared ranges inside the block."""
    token = PARAM_SPECS.set(dict(specs))
    try:
        yield
    finally:
        PARAM_SPECS.reset(token)


def random_point(symbols, seed: int) -> dict:
    """Exact rational values: reals in [-1, 1], positive symbols in [0.3, 1.5], except a declared
    parameter (``parameter_ranges``): at seed k its default (k = 0 mod 4), the low end of its
    range (1), the high end (2) or a random point across the range (3; log-uniform where the
    range spans a decade)."""
    from icon_registry.verify.instances import sample_param

    rng = random.Random(seed)
    specs = PARAM_SPECS.get()
    point = {}
    for s in sorted(symbols, key=lambda s: s.name):
        if s.is_positive and s.name in specs:
            mode = PARAM_CYCLE[seed % len(PARAM_CYCLE)]
            value = sample_param(specs[s.name], mode, _NumpyLike(rng), positive=True)
            point[s] = sympy.Rational(value) if specs[s.name].integer else sympy.Rational(f"{value:.6g}")
        elif s.is_positive:
            point[s] = sympy.Rational(rng.randint(300, 1500), 1000)
        else:
            point[s] = sympy.Rational(rng.randint(-1000, 1000), 1000)
    return point


class _NumpyLike:
    """``uniform(a, b)`` of numpy's generators on a ``random.Random`` (seeded, reproducible)."""

    def __init__(self, rng):
        self.rng = rng

    def uniform(self, low, high):
        return self.rng.uniform(low, high)


def at(expr, point, digits=DIGITS):
    """High-precision value of expr at point (complex parts are an error)."""
    if not isinstance(expr, sympy.Basic):
        return sympy.Float(expr, digits)
    value = expr.xreplace({s: sympy.Float(sympy.sympify(v).evalf(digits + 10), digits + 10) for s, v in point.items()}).evalf(digits)
    if value.has(sympy.I) or not value.is_number:
        value = sympy.re(value).evalf(digits) if value.is_number else value
    return value


def close(a, b, scale, digits=DIGITS) -> bool:
    try:
        return abs(float(a - b)) <= 10.0 ** (-(digits - 8)) * (1.0 + float(scale))
    except TypeError:
        return False


def finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def at_defaults(point) -> bool:
    """No declared parameter of ``point`` is away from its default."""
    specs = PARAM_SPECS.get()
    return all(float(v) == float(specs[s.name].default) for s, v in point.items() if s.name in specs)


def numeric_equal(lhs, rhs, symbols, *, points=POINTS, seed=0, skipped=None):
    """(True, None) or (False, counterexample) from high-precision evaluation at random points.

    A point where a parameter is away from its default and a side is not finite at 30 digits
    (exp(-1/tau) below 30 digits next to 1 at the low end of tau's range) is not a verdict: it is
    left out and described in ``skipped`` (a list), never silently; if every point was left out,
    the parameters' defaults (seed 0 mod 4) decide, so that no verdict rests on no point."""
    compared = 0
    for k in range(points):
        point = random_point(symbols, seed + k)
        a, b = at(lhs, point), at(rhs, point)
        if not (finite(a) and finite(b)) and not at_defaults(point):
            if skipped is not None:
                params = ", ".join(f"{s}={float(v):.6g}" for s, v in point.items() if s.name in PARAM_SPECS.get())
                skipped.append(f"not finite at {DIGITS} digits at {params} ({a}, {b}): point left out")
            continue
        compared += 1
        if not close(a, b, abs(a) + abs(b)):
            return False, {"point": point, "lhs": a, "rhs": b}
    if not compared:
        point = random_point(symbols, len(PARAM_CYCLE) * (seed + points))  # every declared parameter at its default
        a, b = at(lhs, point), at(rhs, point)
        if not close(a, b, abs(a) + abs(b)):
            return False, {"point": point, "lhs": a, "rhs": b}
    return True, None


def _canon_arg(a):
    if a.has(sympy.exp, sympy.log):
        return a
    return sympy.cancel(a)


def _canonical_exponents(expr):
    """Arguments of exp, log and fractional powers put over one expanded denominator: the
    kernels' and the formula's forms of the same quantity (e.g. <z_i/|z_i|, z_j/|z_j|> / tau
    versus <z_i, z_j> / (|z_i| |z_j| tau), or (z_j - z_i)**2 versus (z_i - z_j)**2) become identical."""
    def is_target(e):
        if isinstance(e, (sympy.exp, sympy.log)):
            return True
        return isinstance(e, sympy.Pow) and not e.exp.is_Integer and not e.base.is_Atom

    def rewrite(e):
        if isinstance(e, sympy.exp):
            return sympy.exp(sympy.cancel(e.args[0]) if not e.args[0].has(sympy.log) else e.args[0])
        if isinstance(e, sympy.log):
            return sympy.log(_canon_arg(e.args[0]))
        return sympy.Pow(_canon_arg(e.base), e.exp)

    return expr.replace(is_target, rewrite)


def cheap_simplify(expr):
    """The fast, always-safe rewrites: canonical exponents, logs of products and quotients
    expanded (force), powers merged, and the log-free part put over one denominator."""
    expr = _canonical_exponents(expr)
    expr = sympy.expand_log(expr, force=True)
    expr = _canonical_exponents(expr)
    expr = sympy.powsimp(expr)
    terms = sympy.Add.make_args(expr)
    transcendental = [a for a in terms if a.has(sympy.log, sympy.exp, sympy.Max, sympy.Min, sympy.Piecewise)]
    rational = [a for a in terms if a not in set(transcendental)]
    rest = sympy.cancel(sympy.Add(*rational)) if rational else sympy.Integer(0)
    return sympy.Add(*transcendental) + rest


class OutOfTime(BaseException):
    """Raised by the alarm inside SymPy; BaseException so that SymPy's own handlers don't swallow it."""


def cpu_seconds() -> float:
    """This process's CPU time: the clock of every time box here. On wall time, a proof that
    finishes in time on an idle machine ran out of it under load (``icon verify -j 4`` on two
    cores), and a claim's label ("checked exactly" or "numerically") depended on the load."""
    return time.process_time()


@contextlib.contextmanager
def time_box(seconds: float):
    """Interrupt the block after ``seconds`` of this process's CPU time (main thread only;
    elsewhere it just runs)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def _alarm(signum, frame):
        raise OutOfTime()

    previous = signal.signal(signal.SIGPROF, _alarm)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def bounded_simplify(expr, seconds: float):
    """cheap_simplify within a time box; on timeout the unsimplified expression."""
    try:
        with time_box(seconds):
            return cheap_simplify(expr)
    except OutOfTime:
        return expr


def try_zero(expr, deadline: float):
    """Return (is_zero_proved, best_form); never runs past ``deadline`` (``cpu_seconds``; main thread)."""
    try:
        with time_box(max(deadline - cpu_seconds(), 0.01)):
            return _try_zero(expr, deadline)
    except OutOfTime:
        return False, expr


def _try_zero(expr, deadline):
    expr = cheap_simplify(expr)
    if expr == 0:
        return True, expr
    if sympy.count_ops(expr) <= SIMPLIFY_MAX_OPS and cpu_seconds() < deadline:
        try:
            candidate = sympy.simplify(expr)
        except Exception:  # pragma: no cover - SymPy internals
            candidate = expr
        if candidate == 0:
            return True, candidate
        if sympy.count_ops(candidate) < sympy.count_ops(expr):
            expr = candidate
    return False, expr


def rationalize(expr):
    """Floats (a kernel's scale 2.0, a literal temperature 1.0) as the exact decimals they print as,
    so that 30-digit comparisons are not limited by 53-bit floats."""
    expr = sympy.sympify(expr)
    floats = expr.atoms(sympy.Float)
    if not floats:
        return expr
    return expr.xreplace({f: _exact(f) for f in floats})


def _exact(f):
    """A Float as the simple fraction it rounds (5/12 from 0.416666666666667, which the backend
    produces when an exact probability meets a 0.0 fill), else as its printed decimal."""
    value = float(f)
    simple = sympy.Rational(value).limit_denominator(10**6)
    if abs(float(simple) - value) <= 1e-14 * max(1.0, abs(value)):
        return simple
    return sympy.Rational(repr(value))


def decide_equal(lhs, rhs, symbols=None, *, seed=0, what=("lhs", "rhs")) -> Decision:
    lhs, rhs = rationalize(lhs), rationalize(rhs)
    symbols = set(symbols or ()) | lhs.free_symbols | rhs.free_symbols
    skipped = []
    equal, counterexample = numeric_equal(lhs, rhs, symbols, seed=seed, skipped=skipped)
    decision = _decide(lhs, rhs, equal, counterexample, what)
    decision.steps += [f"{what[0]} - {what[1]}: {line}" for line in skipped]
    return decision


def _decide(lhs, rhs, equal, counterexample, what) -> Decision:
    diff = lhs - rhs
    if not equal:
        _, residual = try_zero(diff, cpu_seconds() + 1.0)
        return Decision(False, residual=residual, counterexample=counterexample)
    size = sympy.count_ops(diff)
    if size > SKIP_PROOF_OPS:
        return Decision(True, False, POINTS, residual=diff,
                        steps=[f"{what[0]} - {what[1]}: too large to simplify ({size} operations); equal to "
                               f"{DIGITS} digits at {POINTS} random rational points"])
    proved, residual = try_zero(diff, cpu_seconds() + SIMPLIFY_SECONDS)
    if proved:
        return Decision(True, True, residual=sympy.Integer(0),
                        steps=[f"{what[0]} - {what[1]}: put every exponent over one denominator, expanded logs (force), merged powers, cancelled the rational part: the difference simplified to 0"])
    return Decision(True, False, POINTS, residual=residual,
                    steps=[f"{what[0]} - {what[1]}: simplification inconclusive; equal to {DIGITS} digits at "
                           f"{POINTS} random rational points"])


def depends_on(expr, learnables, *, seed=0, points=2) -> Optional[sympy.Symbol]:
    """A learnable symbol expr depends on, or None (decided at 30 digits: the value must not
    change when all learnables are redrawn; on a change, the first one that matters is named)."""
    free = [s for s in learnables if s in expr.free_symbols]
    if not free:
        return None
    symbols = expr.free_symbols
    for k in range(points):
        point = random_point(symbols, seed + 101 + k)
        base = at(expr, point)
        moved = dict(point)
        moved.update({s: v for s, v in random_point(free, seed + 202 + k).items()})
        if not close(at(expr, moved), base, abs(base)):
            for s in free:
                one = dict(point)
                one[s] = moved[s]
                if not close(at(expr, one), base, abs(base)):
                    return s
            return free[0]
    return None


def short(expr, limit=300) -> str:
    text = str(expr)
    return text if len(text) <= limit else text[: limit - 20] + " ... (" + str(len(text)) + " chars)"


def describe_point(point: dict, learnables=(), max_shown=6) -> str:
    params = [f"{s}={float(v):.3g}" for s, v in point.items() if s not in set(learnables)]
    learn = [f"{s}={float(v):.3g}" for s, v in point.items() if s in set(learnables)]
    shown = learn[:max_shown] + (["..."] if len(learn) > max_shown else [])
    return ", ".join(shown + params)
