// The process group of data-parallel training: rank, size and the collective operations on tensors.

import CNeurite
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An MPI operation that failed.
public struct DistributedError: Error, CustomStringConvertible, Sendable {
    /// What failed.
    public let message: String
    /// An error saying `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The processes training one model together (MPI_COMM_WORLD). Without the `MPI` package trait,
/// or when MPI was not started, this process is rank 0 of 1 and every collective is a no-op.
public enum Distributed {
    /// Whether this build has MPI (`swift build --traits MPI`).
    public static var isAvailable: Bool { nk_dist_available() != 0 }
    /// Whether this process was started by `mpirun` (Open MPI's environment is present).
    public static var wasLaunchedByMPI: Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { getenvString($0) != nil }
    }
    /// Starts MPI (when available); throws when it cannot.
    public static func start() throws {
        guard isAvailable else { throw DistributedError("this build has no MPI support: build with `swift build -c release --traits MPI`") }
        guard nk_dist_init() == 0 else { throw DistributedError("MPI_Init failed") }
    }
    /// Ends MPI (if `start` began it).
    public static func stop() { nk_dist_finalize() }
    /// This process's rank.
    public static var rank: Int { Int(nk_dist_rank()) }
    /// Number of processes.
    public static var size: Int { Int(nk_dist_size()) }

    /// tensor[range] = Σ over ranks, in place (even when `tensor` is a shared view), blocking.
    public static func sum(_ tensor: Tensor, range: Range<Int>? = nil) throws {
        let r = range ?? 0..<tensor.count
        precondition(r.lowerBound >= 0 && r.upperBound <= tensor.count, "Distributed.sum: range \(r) of \(tensor.count)")
        guard nk_dist_allreduce_sum_f32(tensor.storage.base + r.lowerBound, Int64(r.count)) == 0 else {
            throw DistributedError("MPI_Allreduce of \(r.count) floats failed")
        }
    }

    /// Starts summing tensor[range] over ranks in place; `waitAll()` completes it.
    public static func beginSum(_ tensor: Tensor, range: Range<Int>) throws {
        precondition(range.lowerBound >= 0 && range.upperBound <= tensor.count, "Distributed.beginSum: range \(range) of \(tensor.count)")
        guard nk_dist_iallreduce_sum_f32(tensor.storage.base + range.lowerBound, Int64(range.count)) == 0 else {
            throw DistributedError("MPI_Iallreduce of \(range.count) floats failed")
        }
    }

    /// Waits for every sum begun with `beginSum`.
    public static func waitAll() throws {
        guard nk_dist_wait_all() == 0 else { throw DistributedError("MPI_Waitall failed") }
    }

    /// Sums each value over ranks (metrics, flags).
    public static func sum(_ values: [Double]) throws -> [Double] {
        var v = values
        let rc = v.withUnsafeMutableBufferPointer { nk_dist_allreduce_sum_f64($0.baseAddress, Int64($0.count)) }
        guard rc == 0 else { throw DistributedError("MPI_Allreduce of \(values.count) doubles failed") }
        return v
    }

    /// Replaces `tensor`'s values on every rank with rank `root`'s, in place.
    public static func broadcast(_ tensor: Tensor, from root: Int = 0) throws {
        guard nk_dist_broadcast_f32(tensor.storage.base, Int64(tensor.count), Int32(root)) == 0 else {
            throw DistributedError("MPI_Bcast of \(tensor.count) floats failed")
        }
    }

    /// Stops every rank with exit code `code` (after a failure on this one).
    public static func abort(code: Int32) -> Never {
        nk_dist_abort(code)
        fatalError("MPI_Abort returned")
    }
}

private func getenvString(_ name: String) -> String? { getenv(name).map { String(cString: $0) } }
