import Foundation
import Support

/// Errors starting or running a multi-process job.
public enum CollectiveErrors: ErrorDomain {}
public typealias CollectiveError = UserError<CollectiveErrors>

/// Which job this process belongs to.
public enum World {
    /// Whether a launcher (Open MPI's mpirun, or a PMIx one) started this process as a rank of a job.
    public static var launchedAsRank: Bool {
        let e = ProcessInfo.processInfo.environment
        return e["OMPI_COMM_WORLD_SIZE"] != nil || e["PMIX_RANK"] != nil || e["PMI_RANK"] != nil
    }

    /// This process's communicator: the MPI job's when mpirun started it (MPI is initialised
    /// here), else a single process. A build without MPI (`--disable-default-traits`) started by
    /// mpirun is an error rather than N copies of the same run writing one directory.
    public static func join() throws -> any Communicator {
        guard launchedAsRank else { return SingleProcess() }
        #if MPI
        return try MPICommunicator()
        #else
        throw CollectiveError("this mllm-cl was built without MPI (the MPI trait off): rebuild with the default traits and libopenmpi-dev to run under mpirun")
        #endif
    }
}
