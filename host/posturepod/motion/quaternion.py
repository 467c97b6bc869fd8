"""Quaternion maths for the whole package (fusion, calibration, angles, live, simulator).

Conventions, everywhere:

- **w-first** ``(w, x, y, z)``. scipy's ``Rotation`` is x, y, z, w (scalar last): only
  :func:`from_matrix` crosses over, and it reorders.
- **Hamilton** product; ``q`` rotates body-frame vectors into its reference frame:
  ``v_ref = rotate(q, v_body) = q v q*`` (pods: sensor -> earth; simulator segments:
  segment -> earth; mountings: sensor -> segment). ``mul(a, b)`` is "a, then b in a's body
  frame" (``R_a @ R_b``), so ``mul(q_segment, m_mounting)`` is sensor -> earth.
- Vectorised: quaternions ``(..., 4)``, vectors ``(..., 3)``; leading axes broadcast (one
  ``(4,)`` against ``(N, 3)`` vectors, ``(N, 4)`` against one ``(3,)``, ...). Inputs may be
  lists; results are float arrays.
- Nothing normalises implicitly: :func:`mul`, :func:`conj`, :func:`rotate` are exact
  algebra, :func:`conj` is the inverse only for unit quaternions. :func:`normalize` and
  :func:`canonical` (the sign with w >= 0; q and -q are the same rotation) are explicit.

The products and rotations are written out in numpy (faster than building ``Rotation``
objects for every call, and no reordering); scipy is used for matrices.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["angle_between", "canonical", "conj", "exp", "from_axis_angle", "from_matrix",
           "from_two_vectors", "log", "mul", "normalize", "rotate", "rotate_inv"]

_CONJ = np.array([1.0, -1.0, -1.0, -1.0])


def mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Hamilton product ``a b`` of w-first quaternions (..., 4)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def conj(q: ArrayLike) -> np.ndarray:
    """Conjugate ``(w, -x, -y, -z)``: the inverse rotation of a unit quaternion."""
    return np.asarray(q, dtype=float) * _CONJ


def normalize(q: ArrayLike) -> np.ndarray:
    """``q / |q|`` along the last axis."""
    q = np.asarray(q, dtype=float)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def canonical(q: ArrayLike) -> np.ndarray:
    """The same rotations with w >= 0 (``-q`` where w < 0)."""
    q = np.asarray(q, dtype=float)
    return np.where(q[..., :1] < 0, -q, q)


def rotate(q: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) from q's body frame into its reference frame:
    ``q v q*`` for w-first unit quaternions ``q`` (..., 4)."""
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def rotate_inv(q: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Rotate vectors from q's reference frame into its body frame: ``q* v q`` (for a pod's
    sensor -> earth orientation: earth to sensor)."""
    return rotate(conj(q), v)


def from_axis_angle(angle_rad: ArrayLike, axis: int) -> np.ndarray:
    """w-first quaternions (..., 4) of rotations by ``angle_rad`` (...) about the body axis
    ``axis`` (0 = x, 1 = y, 2 = z), right-handed."""
    half = 0.5 * np.asarray(angle_rad, dtype=float)
    out = np.zeros(half.shape + (4,))
    out[..., 0] = np.cos(half)
    out[..., 1 + axis] = np.sin(half)
    return out


def exp(rotvec: ArrayLike) -> np.ndarray:
    """w-first unit quaternions (..., 4) of rotation vectors (..., 3) (axis * angle, rad):
    ``(cos(a/2), sin(a/2) axis)``. Inverse of :func:`log`."""
    rv = np.asarray(rotvec, dtype=float)
    ang = np.linalg.norm(rv, axis=-1)
    half = 0.5 * ang
    # sin(a/2)/a, with its series near 0
    s = np.where(ang < 1e-8, 0.5 - ang ** 2 / 48.0, np.sin(half) / np.where(ang < 1e-8, 1.0, ang))
    return np.concatenate([np.cos(half)[..., None], rv * s[..., None]], axis=-1)


def log(q: ArrayLike, dt: ArrayLike | None = None) -> np.ndarray:
    """Rotation vectors (..., 3) (axis * angle, rad, angle in [0, pi]) of w-first unit
    quaternions (..., 4); q and -q give the same vector. With ``dt`` (s, broadcasting
    against q's leading axes): divided by it, the constant angular rate (rad/s) of that
    rotation. The body-frame rotation from ``a`` to ``b`` is ``log(mul(conj(a), b))``."""
    q = canonical(q)
    w = q[..., 0]
    u = q[..., 1:]
    n = np.linalg.norm(u, axis=-1)
    ang = 2.0 * np.arctan2(n, w)
    fac = np.where(n > 1e-15, ang / np.maximum(n, 1e-300), 2.0)   # 2.0: the limit at n -> 0
    if dt is not None:
        fac = fac / np.asarray(dt, dtype=float)
    return u * fac[..., None]


def angle_between(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Angle (rad, [0, pi]) of the rotation taking unit quaternions ``a`` to ``b``."""
    d = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))


def from_two_vectors(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Smallest rotation taking unit vectors ``a`` to ``b`` (..., 3): w-first unit
    quaternions (..., 4) with ``rotate(q, a) == b``. Antiparallel pairs get a half turn
    about a perpendicular axis."""
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    d = np.sum(a * b, axis=-1, keepdims=True)
    q = np.concatenate([1.0 + d, np.cross(a, b)], axis=-1)
    n = np.linalg.norm(q, axis=-1, keepdims=True)
    bad = n[..., 0] < 1e-9          # antiparallel: rotate 180 deg about any perpendicular
    if np.any(bad):
        ab = a[bad]
        perp = np.cross(ab, np.array([1.0, 0.0, 0.0]))
        small = np.linalg.norm(perp, axis=-1) < 1e-6
        perp[small] = np.cross(ab[small], np.array([0.0, 1.0, 0.0]))
        perp /= np.linalg.norm(perp, axis=-1, keepdims=True)
        q[bad] = np.concatenate([np.zeros((len(ab), 1)), perp], axis=-1)
        n[bad] = 1.0
    return q / n


def from_matrix(r: ArrayLike) -> np.ndarray:
    """w-first unit quaternions (..., 4) of rotation matrices (..., 3, 3) (``rotate(q, v) ==
    r @ v``), via scipy (whose scalar-last result is reordered)."""
    from scipy.spatial.transform import Rotation
    return Rotation.from_matrix(r).as_quat()[..., [3, 0, 1, 2]]
