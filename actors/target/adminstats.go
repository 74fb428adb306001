package target

import pb "github.com/atgt/atgt/messages/atgtv1"

// lunStats fills a LUN's counters.
func (s *Service) lunStats(l *liveLUN, st *pb.LunStats) {}
