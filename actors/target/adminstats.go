package target

import pb "github.com/atgt/atgt/messages/atgtv1"

// lunStats fills a LUN's counters from its metrics.
func (s *Service) lunStats(l *liveLUN, st *pb.LunStats) {
	m := s.metrics.LUN(l.key.Target, l.key.LUN)
	if m == nil {
		return
	}
	n := m.Snapshot()
	st.Reads, st.Writes, st.OtherCommands = n.Reads, n.Writes, n.Other
	st.BytesRead, st.BytesWritten = n.BytesRead, n.BytesWritten
	// The most held at once since the last look (or now, if more): the count at the
	// instant of the call reads 0 on a busy LUN (metrics.LUN.TakePeak).
	st.Errors, st.TasksInFlight = n.Errors, max(n.InFlight, uint64(max(m.TakePeak(), 0)))
	st.WorkerRestarts, st.AbandonedIos = n.WorkerRestarts, n.Abandoned
}
