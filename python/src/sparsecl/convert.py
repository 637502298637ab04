"""Converters between sparsecl patterns and other libraries' block-sparse descriptions.

- :func:`from_layout`: a DeepSpeed / OpenAI blocksparse layout tensor ``[H, nb, nb]``.
- :func:`from_block_mask`: a PyTorch FlexAttention ``BlockMask`` (full blocks, and partial
  blocks with their ``mask_mod`` evaluated into element masks).
- :func:`to_mask`: any pattern to a NumPy bool element mask ``[H, N_q, N_k]``, for checking and
  plotting, or for ``torch.nn.functional.scaled_dot_product_attention(attn_mask=...)``.
"""
import numpy as np

from ._core import InvalidArgumentError, Pattern, as_pattern


def _numpy(x):
    """A NumPy array from a NumPy array, a torch tensor (any device) or an array-like."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def from_layout(layout, block, runtime=None):
    """A :class:`Pattern` from a block layout ``[H, nb_q, nb_k]`` or ``[nb_q, nb_k]`` (DeepSpeed's
    ``SparsityConfig.make_layout`` output, OpenAI blocksparse layouts): NumPy array or torch
    tensor of any integer or bool dtype, non-zero = attend.  Plans using it need this ``block``
    and ``ceil(N / block)`` blocks per side; a 2-D layout serves every head."""
    return Pattern.from_layout(_numpy(layout), block, runtime=runtime)


def _blocks(num, idx, nb):
    """Dense [B, H, nb_q, nb] bool from FlexAttention's (num_blocks, indices) pair."""
    num, idx = _numpy(num).astype(np.int64), _numpy(idx).astype(np.int64)
    b, h, nbq = num.shape
    dense = np.zeros((b, h, nbq, nb + 1), bool)
    valid = np.arange(idx.shape[-1])[None, None, None, :] < num[..., None]
    cols = np.where(valid, np.clip(idx, 0, nb - 1), nb)  # unused slots land in a spare column
    np.put_along_axis(dense, cols, True, axis=-1)
    return dense[..., :nb]


def from_block_mask(block_mask, runtime=None, chunk=1024):
    """A :class:`Pattern` from a FlexAttention ``BlockMask``
    (``torch.nn.attention.flex_attention.create_block_mask``).

    Full blocks become whole layout blocks; partial blocks get element masks from evaluating
    ``mask_mod(b, h, q_idx, kv_idx)`` on their positions (batched, ``chunk`` blocks per call;
    positions past the sequence are never allowed).  The block size must be square
    (``Q_BLOCK == KV_BLOCK``, a power of two 8..256: FlexAttention's default 128 works).
    sparsecl patterns are per head, not per batch element: every batch entry of the mask must be
    the same (e.g. made with ``B=None`` or ``B=1``).  A mask over one head serves every head."""
    import torch

    bq, bk = (block_mask.BLOCK_SIZE if isinstance(block_mask.BLOCK_SIZE, (tuple, list))
              else (block_mask.BLOCK_SIZE, block_mask.BLOCK_SIZE))
    if bq != bk:
        raise InvalidArgumentError("BlockMask blocks are %d x %d; sparsecl layouts need square blocks" % (bq, bk))
    block = int(bq)
    n_q, n_k = (int(s) for s in block_mask.seq_lengths)
    nbq, nbk = -(-n_q // block), -(-n_k // block)
    partial = _blocks(block_mask.kv_num_blocks, block_mask.kv_indices, nbk)
    if block_mask.full_kv_num_blocks is not None:
        full = _blocks(block_mask.full_kv_num_blocks, block_mask.full_kv_indices, nbk)
    else:
        full = np.zeros_like(partial)
    partial, full = partial[:, :, :nbq], full[:, :, :nbq]
    if not ((partial == partial[:1]).all() and (full == full[:1]).all()):
        raise InvalidArgumentError("the BlockMask differs between batch entries; sparsecl patterns are per head")
    partial, full = partial[0], full[0] & ~partial[0]
    heads = partial.shape[0]
    layout = (partial | full).astype(np.uint8)
    mask_ids = np.full(layout.shape, -1, np.int32)
    mask_mod = block_mask.mask_mod
    if mask_mod is None or not partial.any():
        return Pattern.from_layout(layout, block, runtime=runtime)

    ar = torch.arange(block)
    packed, owners = [], []
    for h in range(heads):
        rc = np.argwhere(partial[h])
        for s in range(0, len(rc), chunk):
            part = torch.from_numpy(rc[s:s + chunk])
            qi = part[:, 0, None, None] * block + ar[None, :, None]
            ki = part[:, 1, None, None] * block + ar[None, None, :]
            inside = (qi < n_q) & (ki < n_k)
            with torch.no_grad():
                m = mask_mod(torch.zeros((), dtype=torch.int64), torch.full((), h, dtype=torch.int64),
                             qi.clamp(max=n_q - 1), ki.clamp(max=n_k - 1))
                m = torch.broadcast_to(m, inside.shape) & inside
            bits = np.packbits(m.reshape(len(part), block * block).numpy(), axis=1, bitorder="little")
            packed.append(bits)
            owners.append(np.column_stack([np.full(len(part), h), rc[s:s + chunk]]))
    packed, owners = np.concatenate(packed), np.concatenate(owners)
    unique, inverse = np.unique(packed, axis=0, return_inverse=True)
    mask_ids[owners[:, 0], owners[:, 1], owners[:, 2]] = inverse.reshape(-1).astype(np.int32)
    masks = np.unpackbits(unique, axis=1, bitorder="little").reshape(-1, block, block).astype(bool)
    return Pattern.from_layout(layout, block, masks=masks, mask_ids=mask_ids, runtime=runtime)


def to_mask(pattern, seq_q, seq_k=None, heads=1, block=None, runtime=None):
    """The element mask of a pattern (spec string, :class:`Pattern` or layout array) as a NumPy
    bool array ``[heads, seq_q, seq_k]``: True where query i may attend key j, exactly as plans
    run it.  ``block`` defaults to a layout's own block, else 64 (it matters for block-level
    patterns: bigbird, layouts).  Memory: heads * seq_q * seq_k bytes."""
    p = as_pattern(pattern, block, runtime)
    return p.mask(seq_q, seq_k, heads=heads, block=block, runtime=runtime)
