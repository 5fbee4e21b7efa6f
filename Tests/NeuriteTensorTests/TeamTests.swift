import Foundation
import Testing
import CNeurite
import NeuriteTensor

/// The kernels' thread team (CSupport/team.c) under the uses a host application can make of it:
/// regions started from several host threads at once (one runs on the team, the others on their
/// own thread) and regions started from inside a region (run inline). Every element of every
/// region must be visited exactly once, whoever runs it.
@Suite struct TeamTests {
    /// One region's bookkeeping: how often each element was visited, and the nested regions' sums.
    /// (Raw buffers: ranges on different threads write different elements at once.)
    final class Visits: @unchecked Sendable {
        let counts: UnsafeMutableBufferPointer<Int32>
        let nestedSums: UnsafeMutableBufferPointer<Int64>
        init(count: Int) {
            counts = .allocate(capacity: count)
            counts.initialize(repeating: 0)
            nestedSums = .allocate(capacity: count)
            nestedSums.initialize(repeating: 0)
        }
        deinit {
            counts.deallocate()
            nestedSums.deallocate()
        }
    }

    /// Runs nk_parallel_ranges over `visits.counts` on up to `threads` threads; each range bumps
    /// its elements and, for its first element, runs a nested region summing 0..<1000.
    static func visitAll(_ visits: Visits, threads: Int) {
        nk_set_thread_limit(Int32(threads))
        defer { nk_set_thread_limit(0) }
        let context = Unmanaged.passUnretained(visits).toOpaque()
        nk_parallel_ranges(Int64(visits.counts.count), 16, 1, context) { context, begin, end in
            let v = Unmanaged<Visits>.fromOpaque(context!).takeUnretainedValue()
            for i in Int(begin)..<Int(end) { v.counts[i] += 1 }
            // A region inside a region: runs on this thread, and still covers its whole range.
            final class Sum: @unchecked Sendable { var value: Int64 = 0 }
            let sum = Sum()
            nk_parallel_ranges(1000, 1, 1, Unmanaged.passUnretained(sum).toOpaque()) { context, begin, end in
                let s = Unmanaged<Sum>.fromOpaque(context!).takeUnretainedValue()
                for i in begin..<end { s.value += i }
            }
            v.nestedSums[Int(begin)] = sum.value
        }
    }

    @Test func everyElementOnceFromSeveralHostThreadsWithNestedRegions() {
        let hosts = 4, count = 10_000
        let all = (0..<hosts).map { _ in Visits(count: count) }
        let group = DispatchGroup()
        for (h, visits) in all.enumerated() {
            group.enter()
            let thread = Thread {
                for _ in 0..<50 { Self.visitAll(visits, threads: 2 + h % 2) }
                group.leave()
            }
            thread.start()
        }
        group.wait()
        for (h, visits) in all.enumerated() {
            #expect(visits.counts.allSatisfy { $0 == 50 }, "host thread \(h): an element was not visited exactly once per region")
            let starts = visits.nestedSums.enumerated().filter { $0.element != 0 }
            #expect(!starts.isEmpty)
            #expect(starts.allSatisfy { $0.element == 999 * 1000 / 2 }, "host thread \(h): a nested region lost part of its range")
        }
    }

    @Test func manyShortRegionsInARow() {
        // Thousands of regions a few microseconds apart, as a training step runs them: a worker
        // that arrives late must never run an item of a region that has already ended.
        let visits = Visits(count: 64)
        for _ in 0..<5_000 { Self.visitAll(visits, threads: 3) }
        #expect(visits.counts.allSatisfy { $0 == 5_000 })
    }

    /// The ranges of one region, as its items reported them.
    final class Ranges: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [Range<Int>] = []
        func add(_ r: Range<Int>) { lock.lock(); list.append(r); lock.unlock() }
        var sorted: [Range<Int>] { lock.lock(); defer { lock.unlock() }; return list.sorted { $0.lowerBound < $1.lowerBound } }
    }

    static func ranges(count: Int, align: Int, threads: Int) -> [Range<Int>] {
        nk_set_thread_limit(Int32(threads))
        defer { nk_set_thread_limit(0) }
        let seen = Ranges()
        nk_parallel_ranges(Int64(count), Int64(align), 1, Unmanaged.passUnretained(seen).toOpaque()) { context, begin, end in
            Unmanaged<Ranges>.fromOpaque(context!).takeUnretainedValue().add(Int(begin)..<Int(end))
        }
        return seen.sorted
    }

    @Test func eachThreadsShareIsCutIntoFourShrinkingRanges() {
        // Four ranges per thread (so that a fast core can take over part of a slow one's share),
        // of 4, 3, 2 and 1 tenths of the share (so that the range the last thread is in when the
        // other is done is short); each thread's share as a static split cuts it, every bound a
        // multiple of the alignment, and together they cover every element once. (A serial build,
        // no OpenMP trait, runs every loop whole on the calling thread.)
        guard Runtime.openMPEnabled else {
            #expect(Self.ranges(count: 4_000, align: 16, threads: 2) == [0..<4_000])
            return
        }
        for threads in [2, 3] {
            let count = 4_000, got = Self.ranges(count: count, align: 16, threads: threads)
            let units = (count + 15) / 16
            guard got.count == 4 * threads else {
                Issue.record("\(threads) threads: \(got.count) ranges, not \(4 * threads)")
                continue
            }
            #expect(got.first?.lowerBound == 0 && got.last?.upperBound == count)
            #expect(zip(got, got.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }, "gaps or overlaps: \(got)")
            #expect(got.dropLast().allSatisfy { $0.upperBound % 16 == 0 })
            for t in 0..<threads {
                let share = Array(got[(4 * t)..<(4 * t + 4)])
                #expect(share[0].lowerBound == units * t / threads * 16, "thread \(t)'s share starts where a static split starts it")
                let lengths = share.map(\.count), total = Double(lengths.reduce(0, +))
                for (i, tenths) in [4.0, 3, 2, 1].enumerated() {
                    #expect(abs(Double(lengths[i]) / total - tenths / 10) < 0.03, "thread \(t): range lengths \(lengths)")
                }
            }
        }
        // Fewer alignment units than four a thread: as many ranges per thread as each share has
        // units (7 units: 3 ranges a thread, weights 3, 2, 1; thread 0's share [0, 48), thread 1's
        // 4 units as 2, 1, 1).
        #expect(Self.ranges(count: 100, align: 16, threads: 2) == [0..<16, 16..<32, 32..<48, 48..<80, 80..<96, 96..<100])
        #expect(Self.ranges(count: 40, align: 16, threads: 2) == [0..<16, 16..<40])
    }

    @Test func postedGatherEqualsTheGatherWhateverRunsMeanwhile() {
        // The next mini-batch's rows copied by the team while this thread goes on: finished at
        // once, after other parallel regions (which join it first), or dropped unfinished.
        var g = SeededGenerator(seed: 31)
        let source = Tensor(randomNormal: [2_000, 300], using: &g)
        let rows = (0..<256).map { _ in Int(g.next() % 2_000) }
        let want = source.gatheringRows(rows).scalars.map(\.bitPattern)
        for threads in [1, 2, 3] {
            Runtime.withThreads(threads) {
                #expect(source.postGatheringRows(rows).finish().scalars.map(\.bitPattern) == want, "\(threads) threads, finished at once")
                let posted = source.postGatheringRows(rows)
                let other = Tensor(randomNormal: [400, 300], using: &g)
                let product = other.matmul(source.rows(0..<300)) // parallel regions meanwhile
                #expect(product.shape == [400, 300])
                #expect(posted.finish().scalars.map(\.bitPattern) == want, "\(threads) threads, after other regions")
                _ = source.postGatheringRows(rows) // released unfinished: joined, nothing written later
                #expect(source.gatheringRows(rows).scalars.map(\.bitPattern) == want)
            }
        }
    }

    @Test(.enabled(if: Runtime.openMPEnabled, "a serial build runs every region inline"))
    func teamWaitsCountTheRecordingThreadsRegions() {
        // A 2-thread product (2 Mflop, above the parallel threshold; its thread count given, so
        // other tests' Runtime.threads do not matter) is one region. It is counted only while this
        // thread records, and only when it ran on the team (another host thread's region can hold
        // the team a while: it then runs inline, uncounted).
        let a = [Float](repeating: 0.5, count: 64 * 128), b = [Float](repeating: 0.25, count: 128 * 128)
        var c = [Float](repeating: 0, count: 64 * 128)
        func product() { nk_sgemm_ex(NK_ISA_AUTO, 2, 0, 0, 64, 128, 128, 1, a, 128, b, 128, 0, &c, 128) }
        #expect(!Runtime.recordsTeamWaits)
        let start = Runtime.teamWaits
        for _ in 0..<20 { product() }
        #expect(Runtime.teamWaits == start, "counted while not recording")
        Runtime.recordsTeamWaits = true
        defer { Runtime.recordsTeamWaits = false }
        var calls = 0, counted = Runtime.TeamWaits()
        while counted.regions == 0 && calls < 1_000 {
            product()
            calls += 1
            counted = Runtime.teamWaits.since(start)
        }
        #expect(counted.regions == 1, "\(counted.regions) regions counted after \(calls) products")
        #expect(counted.regionEndSeconds >= 0 && counted.joinSeconds == 0)
        #expect(c.allSatisfy { $0 == 16 })
        // Another thread's regions are its own.
        let mine = Runtime.teamWaits
        let done = DispatchSemaphore(value: 0)
        Thread {
            var d = [Float](repeating: 0, count: 64 * 128)
            for _ in 0..<20 { nk_sgemm_ex(NK_ISA_AUTO, 2, 0, 0, 64, 128, 128, 1, a, 128, b, 128, 0, &d, 128) }
            done.signal()
        }.start()
        done.wait()
        #expect(Runtime.teamWaits == mine, "another thread's regions counted here")
    }

    @Test func byteRowsGatherTheFloatsTheyStandFor() {
        // 8-bit rows (every value 0...255 present) gathered as value / 255, directly and posted,
        // give the bits of gathering the float copy that Float(b) / 255 makes of them.
        var g = SeededGenerator(seed: 37)
        let n = 1_500, shape = [1, 7, 9], w = 63
        let bytes = (0..<(n * w)).map { UInt8(truncatingIfNeeded: $0 < 256 ? $0 : Int(g.next() % 256)) }
        let source = UnitByteRows(bytes: bytes, rowCount: n, rowShape: shape)
        let floats = Tensor(shape: [n] + shape, scalars: bytes.map { Float($0) / 255 })
        #expect(source.floats.scalars.map(\.bitPattern) == floats.scalars.map(\.bitPattern))
        #expect(source.bytes == bytes && source.rowWidth == w)
        let rows = (0..<300).map { _ in Int(g.next() % UInt64(n)) }
        let want = floats.gatheringRows(rows).scalars.map(\.bitPattern)
        for threads in [1, 2, 3] {
            Runtime.withThreads(threads) {
                let direct = source.gatheringRows(rows)
                #expect(direct.shape == [300] + shape)
                #expect(direct.scalars.map(\.bitPattern) == want, "\(threads) threads")
                let posted = source.postGatheringRows(rows)
                let product = floats.reshaped([n, w]).matmul(Tensor(randomNormal: [w, 40], using: &g)) // a region meanwhile
                #expect(product.shape == [n, 40])
                #expect(posted.finish().scalars.map(\.bitPattern) == want, "\(threads) threads, posted")
            }
        }
        let picked = source.subset(rows)
        #expect(picked.rowCount == 300 && picked.rowShape == shape)
        #expect(picked.floats.scalars.map(\.bitPattern) == want)
        #expect(source.gatheringRows([Int]()).shape == [0] + shape)
    }

    @Test func moreItemsThanTheClaimMaskHolds() {
        // Regions of more than 32 items hand their items out in order instead of by mask.
        let visits = Visits(count: 4_000)
        for _ in 0..<200 { Self.visitAll(visits, threads: 40) }
        #expect(visits.counts.allSatisfy { $0 == 200 })
    }
}
