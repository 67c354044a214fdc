// Package redrive resumes, within seconds, the sync runs whose worker died:
// killed (kill -9, OOM), frozen or cut off from PostgreSQL.
//
// A running sync attempt heartbeats its company's fence every SYNC_HEARTBEAT;
// once a fence has been silent for longer than SYNC_LEASE, any replica's
// Redriver (every worker and every scheduler runs one) takes the attempt over
// through checkpoint.Store.TakeOver (exactly one replica wins each, under a
// new epoch that fences the dead attempt should it wake) and enqueues a task
// that re-drives the same run (jobs.RedriveTask). Whichever worker picks that
// task up claims the run and resumes from its last committed batch. Without
// this, the run waits for asynq's own recovery of the dead worker's task: a
// 30 s lease plus a recoverer that runs every 60 s.
//
// Re-driving by enqueuing, rather than by claiming and running the sync in
// the replica that noticed, keeps one way of running a sync (a worker's
// asynq handler, with its concurrency, drain and retry rules), lets a
// scheduler replica re-drive although it runs no syncs, and puts the run on
// whichever worker has room.
//
// asynq's recovery stays the backstop: if the replica dies between the
// takeover and the enqueue, the run is pending and its original task, once
// asynq recovers it, resumes it. When the re-driven attempt got there first,
// that recovered task finds the run held by a live attempt or finished
// (checkpoint.BusyError, checkpoint.FinishedError) and does nothing.
//
// The package reads and writes nothing itself: the fences are package
// checkpoint's, the queue is asynq's.
package redrive
