package target

import (
	"github.com/hashicorp/go-hclog"

	"github.com/atgt/atgt/actors/prcluster"
	pb "github.com/atgt/atgt/messages/atgtv1"
)

// clusterReservations opens the reservation store an "rbd" LUN shares with every
// gateway that exports the same image (actors/prcluster): nil for other LUNs and
// for rbd.localReservations. It blocks on the cluster, like opening the image.
func clusterReservations(l *pb.Lun, tg *targetLUNs, log hclog.Logger) (*prcluster.Store, error) {
	r := l.GetRbd()
	if l.Backend != "rbd" || r == nil || r.LocalReservations {
		return nil, nil
	}
	return prcluster.OpenRados(prcluster.RadosConfig{Pool: r.Pool, Namespace: r.Namespace, Image: r.Image,
		User: r.User, CephConf: r.CephConf}, tg.relativePort(), log.Named("reservations"))
}

// relativePort is this node's relative target port identifier for the target's
// LUNs, which names its I_T nexuses in the shared state: with ALUA port groups
// (Target.local_port_group) the local group's id, so that one initiator port logged
// in to two gateways is two nexuses; without them 1, the only port the target has.
func (tg *targetLUNs) relativePort() uint16 {
	return max(tg.ports.local, 1)
}
