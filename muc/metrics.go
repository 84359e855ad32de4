package muc

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the room engine's Prometheus series (Config.Registerer),
// named like the front doors' (parley_xmpp_*, parley_sip_*): what this
// node hosts and what it commits.
type metrics struct {
	posts      prometheus.Counter
	commitTime prometheus.Histogram
	// commitWrites is the group commit's batch size: the writes (posts
	// and events) of one transaction.
	commitWrites prometheus.Histogram
	// roomsCreated counts rooms created on this node, roomsRefused
	// creations refused because the user reached Config.MaxRoomsPerUser.
	roomsCreated, roomsRefused prometheus.Counter
	// uploads, uploadBytes and downloads count HTTP File Upload
	// (Files): files completed, their bytes, downloads recorded.
	uploads, uploadBytes, downloads prometheus.Counter
	// rateLimited counts requests refused by a per-user rate
	// (ratelimits.go), by limit.
	rateLimited *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, e *Engine) *metrics {
	m := &metrics{
		posts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_muc_posts_total",
			Help: "Posts (messages, subjects, corrections, retractions) committed to room history by this node."}),
		// From the post's turn in the group commit to its commit:
		// what a poster waits for the database before the post is
		// reflected (DESIGN §3).
		commitTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_muc_post_commit_seconds",
			Help:    "Time to commit one post (history and compliance outbox, one transaction, group commit included).",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}}),
		commitWrites: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "parley_muc_group_commit_writes",
			Help:    "Writes (posts and compliance events) committed together in one transaction by the group commit.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		roomsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_muc_rooms_created_total",
			Help: "Rooms created through this node (by users and by the administrator)."}),
		roomsRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_muc_room_creations_refused_total",
			Help: "Room creations refused because the user had created --max-rooms-per-user rooms already."}),
		uploads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_upload_files_total",
			Help: "Files uploaded completely (XEP-0363) through this node."}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_upload_bytes_total",
			Help: "Bytes of the files uploaded completely through this node."}),
		downloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parley_upload_downloads_total",
			Help: "Downloads of uploaded files served by this node."}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_muc_rate_limited_total",
			Help: "Requests refused with resource-constraint because the user was over a per-minute limit, by limit (joins, archive queries, searches)."}, []string{"limit"}),
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.posts, m.commitTime, m.commitWrites, m.roomsCreated, m.roomsRefused, m.rateLimited, m.uploads, m.uploadBytes, m.downloads,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_muc_deliveries_total",
			Help: "Room events (posts, presence, subjects, configuration) handed to occupants' sessions by the rooms this node hosts; each session's queue then writes or cuts it off (parley_xmpp_slow_consumers_total)."},
			func() float64 { return float64(e.deliveries.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_muc_rooms_active",
			Help: "Rooms this node hosts now: rooms with occupants (or being created)."},
			func() float64 { rooms, _ := e.counts(); return float64(rooms) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "parley_muc_occupants",
			Help: "Occupants (XMPP and SIP, local and on other pool nodes) of the rooms this node hosts."},
			func() float64 { _, occupants := e.counts(); return float64(occupants) }),
	)
	return m
}

// committed records one committed post that took d.
func (m *metrics) committed(d time.Duration) {
	m.posts.Inc()
	m.commitTime.Observe(d.Seconds())
}

// counts returns the rooms hosted now and their occupants.
func (e *Engine) counts() (rooms, occupants int) {
	e.mu.Lock()
	hosts := make([]*host, 0, len(e.rooms))
	for _, h := range e.rooms {
		hosts = append(hosts, h)
	}
	e.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		occupants += len(h.occupants)
		h.mu.Unlock()
	}
	return len(hosts), occupants
}
