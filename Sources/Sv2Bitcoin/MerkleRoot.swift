/// Merkle root and coinbase merkle-path computation (Bitcoin's tree: odd levels duplicate their last node).
public enum MerkleRoot {
    /// Folds the coinbase txid up its merkle path (deepest sibling first), as Sv2 jobs define the root.
    @inlinable public static func compute(coinbaseTxid: Hash256, path: [Hash256]) -> Hash256 {
        var root = coinbaseTxid
        for sibling in path { root = SHA256d.merkleStep(root, sibling) }
        return root
    }

    /// The merkle root of a full list of txids (coinbase first); ``Hash256/zero`` for an empty list.
    public static func compute(txids: [Hash256]) -> Hash256 {
        guard !txids.isEmpty else { return .zero }
        var level = txids
        while level.count > 1 {
            level = nextLevel(level)
        }
        return level[0]
    }

    /// The merkle path of the coinbase (index 0) in a block whose other transactions are `txids`, in block order.
    ///
    /// This is the `merkle_path` of Sv2 `NewTemplate`/`NewExtendedMiningJob`: the coinbase's sibling at each level,
    /// deepest first. It does not depend on the coinbase itself.
    public static func coinbasePath(transactionIDs txids: [Hash256]) -> [Hash256] {
        var path: [Hash256] = []
        // The coinbase slot's value never reaches the siblings we collect, so any placeholder works.
        var level = [Hash256.zero] + txids
        while level.count > 1 {
            path.append(level[1])
            level = nextLevel(level)
        }
        return path
    }

    private static func nextLevel(_ level: [Hash256]) -> [Hash256] {
        var next: [Hash256] = []
        next.reserveCapacity((level.count + 1) / 2)
        var index = 0
        while index < level.count {
            let left = level[index]
            let right = index + 1 < level.count ? level[index + 1] : left
            next.append(SHA256d.merkleStep(left, right))
            index += 2
        }
        return next
    }
}
