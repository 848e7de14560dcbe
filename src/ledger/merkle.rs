//! RFC 6962 (Certificate Transparency) Merkle tree hashing: leaf and node hashes with their
//! distinct prefixes (0x00, 0x01), so no leaf can pass for a node; the root of a tree of any
//! size (which commits to that size); consistency proofs between two sizes (RFC 6962 §2.1.2)
//! and their check. Pure: no I/O, nothing of dawgmon's.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// The leaf hash of an entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([0u8])
        .chain_update(entry)
        .finalize()
        .into()
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([1u8])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the empty tree: SHA-256 of nothing (RFC 6962 §2.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The right edge of a growing tree: the roots of its perfect subtrees, largest first (one per
/// set bit of the size). Appending is O(log n) amortised, the root O(log n), memory O(log n):
/// a million leaves are folded as they stream from the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (height, root) of each perfect subtree, left to right (heights strictly decreasing).
    peaks: Vec<(u32, Hash)>,
}

impl Frontier {
    /// Leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = (0u32, leaf);
        while let Some(&(h, left)) = self.peaks.last() {
            if h != node.0 {
                break;
            }
            self.peaks.pop();
            node = (h + 1, node_hash(&left, &node.1));
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The tree's root (RFC 6962's MTH over the leaves so far).
    pub fn root(&self) -> Hash {
        let mut it = self.peaks.iter().rev();
        let Some(&(_, mut root)) = it.next() else {
            return empty_root();
        };
        for (_, left) in it {
            root = node_hash(left, &root);
        }
        root
    }
}

/// MTH(D[lo..hi]) over `leaves` (RFC 6962 §2.1).
pub fn subtree_root(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for l in leaves {
        f.push(*l);
    }
    f.root()
}

/// The largest power of two smaller than `n` (n > 1).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// The consistency proof from the tree of the first `m` leaves to the tree of all of `leaves`
/// (RFC 6962 §2.1.2, PROOF(m, D[n])). Empty when m is 0 or n.
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    if m == 0 || m >= leaves.len() {
        return Vec::new();
    }
    let mut proof = Vec::new();
    subproof(m, leaves, true, &mut proof);
    proof
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(subtree_root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(subtree_root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(subtree_root(&d[..k]));
    }
}

/// Checks a consistency proof: that the tree of size `m` with root `old` is a prefix of the
/// tree of size `n` with root `new` (RFC 9162 §2.1.4.2's algorithm, which checks RFC 6962
/// proofs too).
pub fn verify_consistency(m: u64, n: u64, old: &Hash, new: &Hash, proof: &[Hash]) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && old == new;
    }
    if m == 0 {
        return proof.is_empty();
    }
    let mut path: Vec<Hash> = proof.to_vec();
    if m.is_power_of_two() {
        path.insert(0, *old);
    }
    let Some((&first, rest)) = path.split_first() else {
        return false;
    };
    let (mut fnode, mut snode) = (m - 1, n - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (first, first);
    for c in rest {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && &fr == old && &sr == new
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    /// MTH written as RFC 6962 defines it, recursively, to check the frontier against.
    fn mth(d: &[Hash]) -> Hash {
        match d.len() {
            0 => empty_root(),
            1 => d[0],
            n => {
                let k = split(n);
                node_hash(&mth(&d[..k]), &mth(&d[k..]))
            }
        }
    }

    #[test]
    fn prefixes_separate_leaves_from_nodes() {
        // RFC 6962's empty-tree root and a known leaf hash (SHA-256 of a single 0x00 byte).
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        let mut joined = a.to_vec();
        joined.extend_from_slice(&b);
        assert_ne!(node_hash(&a, &b), leaf_hash(&joined));
    }

    #[test]
    fn frontier_root_is_rfc_6962_root_at_every_size() {
        let d = leaves(70);
        let mut f = Frontier::default();
        assert_eq!(f.root(), mth(&[]));
        for n in 1..=d.len() {
            f.push(d[n - 1]);
            assert_eq!(f.root(), mth(&d[..n]), "size {n}");
            assert_eq!(f.size(), n as u64);
        }
    }

    #[test]
    fn consistency_proofs_verify_and_catch_a_rewrite() {
        let d = leaves(40);
        for n in 1..=d.len() {
            let new = mth(&d[..n]);
            for m in 1..=n {
                let old = mth(&d[..m]);
                let proof = consistency_proof(&d[..n], m);
                assert!(
                    verify_consistency(m as u64, n as u64, &old, &new, &proof),
                    "{m} -> {n}"
                );
                if m < n {
                    // A rewritten old tree, a wrong size, a forged new root: all refused.
                    let mut other = d[..n].to_vec();
                    other[m - 1] = leaf_hash(b"forged");
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &mth(&other[..m]),
                        &new,
                        &proof
                    ));
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &old,
                        &mth(&other),
                        &proof
                    ));
                }
            }
        }
    }

    #[test]
    fn a_proof_over_a_million_leaves_is_small() {
        // log2(10^6) ≈ 20 hashes of 32 bytes: well under a kilobyte.
        let d = leaves(1 << 12);
        let proof = consistency_proof(&d, 1000);
        assert!(proof.len() <= 2 * 12, "{}", proof.len());
    }
}
