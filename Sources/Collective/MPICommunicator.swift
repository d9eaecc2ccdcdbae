#if MPI
import CMPI
import Foundation

/// The ranks of an Open MPI job (`mpirun -np N`), over MPI_COMM_WORLD. Collectives run on the
/// calling thread (MPI_THREAD_FUNNELED: compute threads never call MPI). A rank that dies makes
/// the collectives of the others fail, and MPI's default error handler then ends the job.
final class MPICommunicator: Communicator, @unchecked Sendable {
    let rank: Int
    let size: Int
    private var finished = false
    /// Floats per MPI_Allreduce: MPI counts are 32-bit, and buckets of 16 MiB keep each call's
    /// buffers modest.
    static let bucket = 1 << 22

    init() throws {
        var provided: Int32 = 0
        guard MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided) == MPI_SUCCESS else {
            throw CollectiveError("MPI_Init_thread failed: is this process started by mpirun?")
        }
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(mk_mpi_comm_world(), &r)
        MPI_Comm_size(mk_mpi_comm_world(), &s)
        rank = Int(r)
        size = Int(s)
    }

    func allreduceSum(_ values: UnsafeMutablePointer<Float>, count: Int) {
        var start = 0
        while start < count {
            let n = min(Self.bucket, count - start)
            MPI_Allreduce(mk_mpi_in_place(), values + start, Int32(n), mk_mpi_float(), mk_mpi_sum(), mk_mpi_comm_world())
            start += n
        }
    }

    func allreduceSum(_ values: inout [Double]) {
        let n = Int32(values.count)
        values.withUnsafeMutableBufferPointer {
            _ = MPI_Allreduce(mk_mpi_in_place(), $0.baseAddress, n, mk_mpi_double(), mk_mpi_sum(), mk_mpi_comm_world())
        }
    }

    func barrier() { MPI_Barrier(mk_mpi_comm_world()) }

    func abort(code: Int32) -> Never {
        MPI_Abort(mk_mpi_comm_world(), code)
        exit(code)
    }

    func finish() {
        guard !finished else { return }
        finished = true
        MPI_Finalize()
    }
}
#endif
