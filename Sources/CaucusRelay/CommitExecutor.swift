import Dispatch

/// Runs the group committer's task on a thread of its own (a serial dispatch queue) instead of
/// the shared cooperative pool. Under load that pool's queue holds thousands of jobs (socket reads,
/// replies, pushes), and a commit that has returned would wait behind all of them before the next
/// batch could start, leaving the database idle; here it resumes at once.
final class CommitExecutor: TaskExecutor {
    private let queue = DispatchQueue(label: "caucus.relay.commit")

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        queue.async { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
