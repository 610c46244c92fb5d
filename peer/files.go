package peer

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pion/webrtc/v4"

	"github.com/videochat/videochat/signal/proto"
)

// File sharing (PROTOCOL.md, "Files"), the same protocol as the browser's
// web/static/js/files.js. The path of one transfer:
//
//	sender: SHA-256 of the file → file-offer {id, name, size, sha256} on
//	  the chat channel (never above the receiver's announced max_file);
//	receiver: file-refuse {code} or file-accept; on accept it opens a
//	  temporary file in the downloads directory;
//	sender: data channel "file:<id>", the bytes in fileChunk-byte binary
//	  messages, at most fileHighWater buffered;
//	receiver: writes and hashes each chunk; at size bytes it compares the
//	  hash: a match is moved to a free, sanitised name in the downloads
//	  directory (never overwriting), a mismatch is deleted; it answers
//	  file-result {ok, code}; the sender then closes the channel.
//
// Files stream from and to disk: neither side holds a file in memory.
// A peer cannot make us write outside the downloads directory: the name
// is reduced to one sanitised path element (sanitizeName).

const (
	fileChunk     = 16 << 10
	fileHighWater = 4 << 20
	fileLowWater  = 1 << 20
	// DefaultMaxFileSize is the size limit announced when
	// FileConfig.MaxSize is zero.
	DefaultMaxFileSize = 4 << 30
	maxIncoming        = 8
	maxTransfers       = 256 // kept for FileStatus; the oldest finished go first
	fileAcceptTimeout  = 10 * time.Minute
	maxSavedName       = 200 // bytes
)

// FileConfig configures file sharing.
type FileConfig struct {
	// Dir receives accepted files; "" refuses every incoming file.
	Dir string
	// MaxSize is the largest incoming file accepted, announced to the
	// others; zero means DefaultMaxFileSize.
	MaxSize int64
	// OnEvent, when set, is called as transfers progress (at most every
	// 5 % of a file) and end. It must not block.
	OnEvent func(FileEvent)
}

// FileEvent reports a transfer.
type FileEvent struct {
	ID  string
	Out bool // we send; else we receive
	// Peer is the other side.
	Peer proto.PeerInfo
	// Name is the announced (sanitised) name; Path, once received, where
	// the file is.
	Name, Path string
	Size       int64
	Bytes      int64
	SHA256     string
	// State: offered, sending, receiving, done, failed or refused; Code
	// says why it failed or was refused (e.g. hash-mismatch, too-large).
	State, Code, Detail string
}

type transfer struct {
	FileEvent
	r       *remote
	path    string // sender: the file to send
	tmp     *os.File
	tmpName string
	sum     hash.Hash
	dc      *webrtc.DataChannel
	lastPct int64
	result  chan struct{} // sender: closed when the receiver answered
}

type fileShare struct {
	cfg FileConfig
	log *slog.Logger

	mu        sync.Mutex
	transfers map[string]*transfer // "in|out:peer:id"
	order     []string
}

func newFileShare(cfg FileConfig, log *slog.Logger) (*fileShare, error) {
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxFileSize
	}
	if cfg.MaxSize < 0 || cfg.MaxSize > maxSafeInt {
		return nil, fmt.Errorf("file size limit %d out of range", cfg.MaxSize)
	}
	if cfg.Dir != "" {
		fi, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("downloads directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("downloads directory %s is not a directory", cfg.Dir)
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &fileShare{cfg: cfg, log: log.With("component", "files"), transfers: make(map[string]*transfer)}, nil
}

// maxFile is the limit we announce: 0 when we accept no files.
func (f *fileShare) maxFile() int64 {
	if f == nil || f.cfg.Dir == "" {
		return 0
	}
	return f.cfg.MaxSize
}

func key(out bool, peerID, id string) string {
	if out {
		return "out:" + peerID + ":" + id
	}
	return "in:" + peerID + ":" + id
}

func (f *fileShare) add(t *transfer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := key(t.Out, t.Peer.ID, t.ID)
	f.transfers[k] = t
	f.order = append(f.order, k)
	for len(f.order) > maxTransfers { // forget the oldest finished one
		dropped := false
		for i, ok := range f.order {
			if st := f.transfers[ok].State; st == "done" || st == "failed" || st == "refused" {
				delete(f.transfers, ok)
				f.order = append(f.order[:i], f.order[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			break
		}
	}
}

func (f *fileShare) get(out bool, peerID, id string) *transfer {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transfers[key(out, peerID, id)]
}

func (f *fileShare) activeIncoming() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, t := range f.transfers {
		if !t.Out && (t.State == "offered" || t.State == "receiving") {
			n++
		}
	}
	return n
}

// emit reports t (with f.mu not held).
func (f *fileShare) emit(t *transfer) {
	if f.cfg.OnEvent != nil {
		f.mu.Lock()
		ev := t.FileEvent
		f.mu.Unlock()
		f.cfg.OnEvent(ev)
	}
}

// set changes t's state and reports it.
func (f *fileShare) set(t *transfer, state, code, detail string) {
	f.mu.Lock()
	t.State, t.Code, t.Detail = state, code, detail
	f.mu.Unlock()
	f.emit(t)
}

// Files lists the transfers of this peer, oldest first.
func (p *Peer) Files() []FileEvent {
	f := p.feat.files
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]FileEvent, 0, len(f.order))
	for _, k := range f.order {
		out = append(out, f.transfers[k].FileEvent)
	}
	return out
}

// SendFile offers the file at path to peer id, or to every connected peer
// when id is "". It hashes the file first (streaming), then returns; the
// transfers go on in the background (see FileConfig.OnEvent and Files).
func (p *Peer) SendFile(path, id string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, fh); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	digest := hex.EncodeToString(sum.Sum(nil))
	var ids []string
	for _, r := range p.remotesSorted() {
		if id != "" && r.info.ID != id {
			continue
		}
		t := &transfer{
			FileEvent: FileEvent{ID: newTransferID(), Out: true, Peer: p.rosterInfo(r.info), Name: sanitizeName(fi.Name()),
				Size: fi.Size(), SHA256: digest, State: "offered"},
			r: r, path: path, result: make(chan struct{}),
		}
		p.feat.files.add(t)
		ids = append(ids, t.ID)
		if _, _, limit := r.remoteState(); limit >= 0 && t.Size > limit {
			p.feat.files.set(t, "refused", "too-large", fmt.Sprintf("%s accepts files up to %d bytes", t.Peer.Name, limit))
			continue
		}
		size := t.Size
		if err := r.sendData(&dataMessage{Type: msgFileOffer, ID: t.ID, Name: t.Name, Size: &size, SHA256: digest}); err != nil {
			p.feat.files.set(t, "failed", "not-connected", err.Error())
			continue
		}
		p.feat.files.emit(t)
	}
	if len(ids) == 0 {
		return nil, ErrNoPeers
	}
	return ids, nil
}

func newTransferID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// onControl handles a file message from r (already checked).
func (f *fileShare) onControl(r *remote, m *dataMessage) {
	switch m.Type {
	case msgFileOffer:
		f.onOffer(r, m)
	case msgFileAccept:
		if t := f.get(true, r.info.ID, m.ID); t != nil && t.State == "offered" {
			f.set(t, "sending", "", "")
			r.goMedia(func() { f.stream(t) })
		}
	case msgFileRefuse:
		if t := f.get(true, r.info.ID, m.ID); t != nil && t.State != "done" {
			f.set(t, "refused", m.Code, m.Message)
			f.closeOut(t)
		}
	case msgFileResult:
		if t := f.get(true, r.info.ID, m.ID); t != nil && (t.State == "sending" || t.State == "offered") {
			if *m.OK {
				f.set(t, "done", "", "delivered, SHA-256 verified by the receiver")
			} else {
				f.set(t, "failed", m.Code, m.Message)
			}
			f.closeOut(t)
		}
	case msgFileCancel:
		if t := f.get(false, r.info.ID, m.ID); t != nil && (t.State == "offered" || t.State == "receiving") {
			f.fail(t, "cancelled", "cancelled by the sender", false)
		}
	}
}

func (f *fileShare) closeOut(t *transfer) {
	f.mu.Lock()
	dc := t.dc
	select {
	case <-t.result:
	default:
		close(t.result)
	}
	f.mu.Unlock()
	if dc != nil {
		_ = dc.Close()
	}
}

func (f *fileShare) refuse(r *remote, id, code, msg string) {
	_ = r.sendData(&dataMessage{Type: msgFileRefuse, ID: id, Code: code, Message: msg})
}

// onOffer accepts an offered file into the downloads directory, or refuses it.
func (f *fileShare) onOffer(r *remote, m *dataMessage) {
	info := r.p.rosterInfo(r.info)
	name := sanitizeName(m.Name)
	switch {
	case f.cfg.Dir == "":
		f.refuse(r, m.ID, "refused", "this peer accepts no files")
		return
	case *m.Size > f.cfg.MaxSize:
		f.log.Info("refused a file over the size limit", "from", info.Name, "size", *m.Size, "limit", f.cfg.MaxSize)
		f.refuse(r, m.ID, "too-large", fmt.Sprintf("files up to %d bytes", f.cfg.MaxSize))
		return
	case f.get(false, r.info.ID, m.ID) != nil:
		f.refuse(r, m.ID, "duplicate", "this transfer id was offered before")
		return
	case f.activeIncoming() >= maxIncoming:
		f.refuse(r, m.ID, "busy", fmt.Sprintf("at most %d incoming transfers at once", maxIncoming))
		return
	}
	tmp, err := os.CreateTemp(f.cfg.Dir, ".videochat-*.part")
	if err != nil {
		f.log.Warn("cannot receive a file", "err", err)
		f.refuse(r, m.ID, "cannot-write", "the receiver cannot write the file")
		return
	}
	t := &transfer{
		FileEvent: FileEvent{ID: m.ID, Peer: info, Name: name, Size: *m.Size, SHA256: m.SHA256, State: "receiving"},
		r:         r, tmp: tmp, tmpName: tmp.Name(), sum: sha256.New(),
	}
	f.add(t)
	f.emit(t)
	if err := r.sendData(&dataMessage{Type: msgFileAccept, ID: m.ID}); err != nil {
		f.fail(t, "not-connected", err.Error(), false)
		return
	}
	if t.Size == 0 {
		f.complete(t)
	}
}

// onDataChannel takes a channel the peer opened: "file:<id>" of a
// transfer we accepted; anything else is closed.
func (r *remote) onDataChannel(dc *webrtc.DataChannel) {
	f := r.p.feat.files
	id, ok := strings.CutPrefix(dc.Label(), "file:")
	var t *transfer
	if ok && reID.MatchString(id) {
		t = f.get(false, r.info.ID, id)
	}
	f.mu.Lock()
	usable := t != nil && t.State == "receiving" && t.dc == nil
	if usable {
		t.dc = dc
	}
	f.mu.Unlock()
	if !usable {
		r.log.Info("closing an unexpected data channel", "label", dc.Label())
		_ = dc.Close()
		return
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) { f.onChunk(t, msg) })
	dc.OnClose(func() {
		f.mu.Lock()
		receiving := t.State == "receiving"
		f.mu.Unlock()
		if receiving {
			f.fail(t, "incomplete", "the channel closed before the whole file arrived", true)
		}
	})
}

// onChunk writes one chunk (pion delivers a channel's messages in order,
// one at a time).
func (f *fileShare) onChunk(t *transfer, msg webrtc.DataChannelMessage) {
	f.mu.Lock()
	receiving := t.State == "receiving"
	f.mu.Unlock()
	if !receiving {
		return
	}
	if msg.IsString {
		f.fail(t, "bad-chunk", "file data must be binary", true)
		return
	}
	if t.Bytes+int64(len(msg.Data)) > t.Size {
		f.fail(t, "size-mismatch", fmt.Sprintf("more than the %d bytes announced", t.Size), true)
		return
	}
	if _, err := t.tmp.Write(msg.Data); err != nil {
		f.fail(t, "cannot-write", err.Error(), true)
		return
	}
	t.sum.Write(msg.Data)
	f.mu.Lock()
	t.Bytes += int64(len(msg.Data))
	done := t.Bytes == t.Size
	f.mu.Unlock()
	if done {
		f.complete(t)
		return
	}
	f.progress(t)
}

func (f *fileShare) progress(t *transfer) {
	if t.Size == 0 {
		return
	}
	if pct := t.Bytes * 20 / t.Size; pct != t.lastPct {
		t.lastPct = pct
		f.emit(t)
	}
}

// complete verifies a received file and moves it to its final name.
func (f *fileShare) complete(t *transfer) {
	got := hex.EncodeToString(t.sum.Sum(nil))
	if got != t.SHA256 {
		f.fail(t, "hash-mismatch", "the SHA-256 does not match the one announced: the file was deleted", true)
		return
	}
	if err := t.tmp.Close(); err != nil {
		f.fail(t, "cannot-write", err.Error(), true)
		return
	}
	final, err := placeFile(f.cfg.Dir, t.Name, t.tmpName)
	if err != nil {
		_ = os.Remove(t.tmpName)
		f.fail(t, "cannot-write", err.Error(), true)
		return
	}
	f.mu.Lock()
	t.Path = final
	f.mu.Unlock()
	_ = t.r.sendData(&dataMessage{Type: msgFileResult, ID: t.ID, OK: ptr(true)})
	f.set(t, "done", "", "SHA-256 verified")
}

// fail ends an incoming transfer: the partial file is deleted and the
// sender told why (unless tell is false).
func (f *fileShare) fail(t *transfer, code, detail string, tell bool) {
	f.mu.Lock()
	if t.State != "receiving" && t.State != "offered" {
		f.mu.Unlock()
		return
	}
	t.State = "failed"
	dc := t.dc
	f.mu.Unlock()
	if t.tmp != nil {
		_ = t.tmp.Close()
		_ = os.Remove(t.tmpName)
	}
	if tell {
		_ = t.r.sendData(&dataMessage{Type: msgFileResult, ID: t.ID, OK: ptr(false), Code: code, Message: detail})
	}
	if dc != nil {
		_ = dc.Close()
	}
	f.set(t, "failed", code, detail)
}

func ptr[T any](v T) *T { return &v }

// stream sends an accepted file on its own channel (a goroutine of r).
func (f *fileShare) stream(t *transfer) {
	r := t.r
	ordered := true
	dc, err := r.pc.CreateDataChannel("file:"+t.ID, &webrtc.DataChannelInit{Ordered: &ordered})
	if err != nil {
		f.set(t, "failed", "send-failed", err.Error())
		return
	}
	open := make(chan struct{})
	low := make(chan struct{}, 1)
	closed := make(chan struct{})
	dc.OnOpen(func() { close(open) })
	dc.OnClose(func() { close(closed) })
	dc.SetBufferedAmountLowThreshold(fileLowWater)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	f.mu.Lock()
	t.dc = dc
	f.mu.Unlock()
	wait := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		case <-closed:
		case <-t.result:
		case <-r.stop:
		case <-time.After(fileAcceptTimeout):
		}
		return false
	}
	if !wait(open) {
		f.sendFailed(t, "the channel did not open")
		return
	}
	fh, err := os.Open(t.path)
	if err != nil {
		f.sendFailed(t, err.Error())
		return
	}
	defer fh.Close()
	buf := make([]byte, fileChunk)
	for sent := int64(0); sent < t.Size; {
		n, err := io.ReadFull(fh, buf[:min(int64(len(buf)), t.Size-sent)])
		if err != nil {
			f.sendFailed(t, "the file changed while sending: "+err.Error())
			return
		}
		for dc.BufferedAmount() > fileHighWater {
			if !wait(low) {
				f.sendFailed(t, "the channel closed")
				return
			}
		}
		if err := dc.Send(buf[:n]); err != nil {
			f.sendFailed(t, err.Error())
			return
		}
		sent += int64(n)
		f.mu.Lock()
		t.Bytes = sent
		f.mu.Unlock()
		f.progress(t)
	}
	// The receiver answers with file-result; closeOut closes the channel.
	wait(make(chan struct{}))
}

func (f *fileShare) sendFailed(t *transfer, detail string) {
	f.mu.Lock()
	sending := t.State == "sending"
	f.mu.Unlock()
	if sending {
		f.set(t, "failed", "send-failed", detail)
		_ = t.r.sendData(&dataMessage{Type: msgFileCancel, ID: t.ID})
	}
	f.closeOut(t)
}

// sanitizeName reduces a name from a peer to one safe path element: the
// last element of any path, no control or reserved characters, no leading
// dots, at most maxSavedName bytes; "file" when nothing is left.
func sanitizeName(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) || strings.ContainsRune(`<>:"|?*`, r) {
			return '_'
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.TrimLeft(name, ". "))
	for len(name) > maxSavedName {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" {
		return "file"
	}
	return name
}

// placeFile moves tmp to a free name in dir: name, then "stem (1).ext",
// "stem (2).ext", …; an existing file is never replaced.
func placeFile(dir, name, tmp string) (string, error) {
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", stem, i, ext)
		}
		full := filepath.Join(dir, cand)
		// Reserve the name, then move the verified file over our own
		// empty placeholder.
		fh, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		_ = fh.Close()
		if err := os.Rename(tmp, full); err != nil {
			_ = os.Remove(full)
			return "", err
		}
		return full, nil
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// remoteClosed ends the transfers of a connection that closed: partial
// incoming files are deleted.
func (f *fileShare) remoteClosed(r *remote) {
	f.mu.Lock()
	var in, out []*transfer
	for _, t := range f.transfers {
		if t.r != r {
			continue
		}
		switch {
		case !t.Out && (t.State == "receiving" || t.State == "offered"):
			in = append(in, t)
		case t.Out && (t.State == "sending" || t.State == "offered"):
			out = append(out, t)
		}
	}
	f.mu.Unlock()
	for _, t := range in {
		f.fail(t, "peer-left", "the connection closed", false)
	}
	for _, t := range out {
		f.set(t, "failed", "peer-left", "the connection closed")
	}
}
