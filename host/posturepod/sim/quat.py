"""Vectorised unit quaternions, w-first ``(w, x, y, z)``, Hamilton product.

``q`` maps vectors from a body frame into the reference frame: ``v_ref = rotate(q, v_body)``;
``mul(a, b)`` is "a then, in a's body frame, b" (``R_a @ R_b``). Arrays are ``(N, 4)`` /
``(N, 3)`` (a single ``(4,)`` / ``(3,)`` broadcasts).
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], axis=-1)


def conj(q: ArrayLike) -> np.ndarray:
    q = np.asarray(q, dtype=float)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def axis_angle(angle_rad: ArrayLike, axis: int) -> np.ndarray:
    """Rotation by ``angle_rad`` (N,) about body axis 0=x, 1=y, 2=z."""
    half = 0.5 * np.asarray(angle_rad, dtype=float)
    out = np.zeros(half.shape + (4,))
    out[..., 0] = np.cos(half)
    out[..., 1 + axis] = np.sin(half)
    return out


def rotate(q: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Rotate vectors ``v`` from q's body frame into its reference frame."""
    q = np.asarray(q, dtype=float)
    v = np.asarray(v, dtype=float)
    w = q[..., :1]
    u = q[..., 1:]
    t = 2.0 * np.cross(u, v)
    return v + w * t + np.cross(u, t)


def rotate_inv(q: ArrayLike, v: ArrayLike) -> np.ndarray:
    """Rotate vectors from q's reference frame into its body frame."""
    return rotate(conj(q), v)


def log(q: ArrayLike) -> np.ndarray:
    """Rotation vector (axis * angle, rad) of unit quaternions, angle in [0, pi]."""
    q = np.asarray(q, dtype=float)
    q = np.where(q[..., :1] < 0, -q, q)
    w = q[..., 0]
    u = q[..., 1:]
    n = np.linalg.norm(u, axis=-1)
    ang = 2.0 * np.arctan2(n, w)
    small = n < 1e-12
    fac = np.where(small, 2.0 / np.where(w == 0, 1.0, w), ang / np.where(small, 1.0, n))
    return u * fac[..., None]


def exp(rotvec: ArrayLike) -> np.ndarray:
    """Unit quaternion of a rotation vector."""
    rv = np.asarray(rotvec, dtype=float)
    ang = np.linalg.norm(rv, axis=-1)
    half = 0.5 * ang
    # sin(a/2)/a, with its series near 0
    s = np.where(ang < 1e-8, 0.5 - ang ** 2 / 48.0, np.sin(half) / np.where(ang < 1e-8, 1.0, ang))
    return np.concatenate([np.cos(half)[..., None], rv * s[..., None]], axis=-1)


def angle_between(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Angle (rad) of the rotation taking a to b."""
    d = np.abs(np.sum(np.asarray(a) * np.asarray(b), axis=-1))
    return 2.0 * np.arccos(np.clip(d, 0.0, 1.0))
