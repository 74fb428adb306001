package target

import (
	"github.com/atgt/atgt/actors/metrics"
	"github.com/atgt/atgt/backend/faults"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// Metrics returns the service's counters: every LUN's commands, bytes, latency and
// failures, the sessions of each target, and the connections' logins, logouts,
// digest errors and rejected PDUs. It is a prometheus.Collector; metrics.Handler
// serves it (atgtd's -metrics). Counting is always on: it costs the data path a
// few atomic adds per command and nothing per scrape.
func (s *Service) Metrics() *metrics.Registry { return s.metrics }

// addLUNMetrics makes the counters of LUN l of the set tg and reports them under
// the LUN's route, as the dispatcher knows it. A LUN removed while the target runs
// is forgotten with s.metrics.Remove(route, id).
func (s *Service) addLUNMetrics(tg *targetLUNs, l *pb.Lun, inj *faults.Injector) *metrics.LUN {
	m := metrics.NewLUN(tg.name, tg.initiator, l.Id, int(l.Workers), inj)
	s.metrics.Add(tg.route, l.Id, m)
	return m
}
