// "Did you mean …?" for mistyped names: subcommands, named models, enumerated flag values.

/// Finds the name a mistyped word most plausibly meant.
public enum Suggestion {
    /// The optimal-string-alignment distance between `a` and `b`: insertions, deletions,
    /// substitutions and swaps of two adjacent characters each cost 1.
    ///
    /// Swaps count once (plain Levenshtein counts them twice) because a swapped pair is the most
    /// common typing slip: `trian` is one edit from `train`, not two.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        // Three rows suffice: a swap looks two rows back.
        var before = [Int](repeating: 0, count: b.count + 1)
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let cost = a[i - 1] == b[j - 1] ? 0 : 1
                var d = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
                if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] { d = min(d, before[j - 2] + 1) }
                current[j] = d
            }
            (before, previous, current) = (previous, current, before)
        }
        return previous[b.count]
    }

    /// The candidate closest to `word` (compared case-insensitively), when it is close enough to be
    /// a typo of it: at most one edit per three characters of the candidate, and at least one.
    /// A candidate that differs only in case is returned as it is spelled. Nil when nothing is that
    /// close: a wild guess helps less than the list of valid names. Ties go to the earlier candidate.
    public static func closest(to word: String, among candidates: [String]) -> String? {
        let w = word.lowercased()
        var best: (name: String, distance: Int)?
        for c in candidates {
            let d = editDistance(w, c.lowercased())
            if d == 0 { return c }
            guard d <= max(1, c.count / 3) else { continue }
            if best == nil || d < best!.distance { best = (c, d) }
        }
        return best?.name
    }
}
