// netvm's JS library for emscripten 3.1.6 (--js-library): terminal ioctls.
//
// 3.1.6's ioctl() accepts TCGETS/TCSETS*/TIOCGWINSZ on a TTY but does
// nothing with them ("not filling tio struct"), so a program cannot switch
// the terminal to raw mode or learn its size. Newer emscripten forwards them
// to the TTY's ops (ioctl_tcgets, ioctl_tcsets, ioctl_tiocgwinsz), which is
// what xterm-pty implements. This does the same forwarding; anything else,
// or a TTY without those ops, goes to the original ioctl.
(function() {
  var Lib = LibraryManager.library;
  var name = '__syscall_ioctl';
  Object.keys(Lib).forEach(function(k) {
    if (k === name || k.indexOf(name + '__') === 0) {
      Lib['$netvm_ioctl_fallback' + k.slice(name.length)] = Lib[k];
      delete Lib[k];
    }
  });

  mergeInto(Lib, {
    __syscall_ioctl__deps: ['$netvm_ioctl_fallback', '$SYSCALLS', '$FS'],
    // The TTY belongs to the main thread (PROXY_TO_PTHREAD).
    __syscall_ioctl__proxy: 'sync',
    __syscall_ioctl__sig: 'iiii',
    __syscall_ioctl: function(fd, op, varargs) {
      var stream = FS.getStream(fd);
      var tty = stream && stream.tty;
      var ops = tty && tty.ops;
      if (!ops) return netvm_ioctl_fallback(fd, op, varargs);
      // The argument is the first variadic one: a pointer.
      var argp = {{{ makeGetValue('varargs', 0, 'i32') }}};
      // struct termios (musl): 4 x u32 flags, c_line, c_cc[32] at 17.
      if ((op == {{{ cDefine('TCGETS') }}} || op == {{{ cDefine('TCGETA') }}}) && ops.ioctl_tcgets) {
        var t = ops.ioctl_tcgets(stream);
        {{{ makeSetValue('argp', 0, 't.c_iflag || 0', 'i32') }}};
        {{{ makeSetValue('argp', 4, 't.c_oflag || 0', 'i32') }}};
        {{{ makeSetValue('argp', 8, 't.c_cflag || 0', 'i32') }}};
        {{{ makeSetValue('argp', 12, 't.c_lflag || 0', 'i32') }}};
        for (var i = 0; i < 32; i++) {
          {{{ makeSetValue('argp + i', 17, 't.c_cc[i] || 0', 'i8') }}};
        }
        return 0;
      }
      if ((op == {{{ cDefine('TCSETS') }}} || op == {{{ cDefine('TCSETSW') }}} || op == {{{ cDefine('TCSETSF') }}} ||
           op == {{{ cDefine('TCSETA') }}} || op == {{{ cDefine('TCSETAW') }}} || op == {{{ cDefine('TCSETAF') }}}) &&
          ops.ioctl_tcsets) {
        var cc = [];
        for (var j = 0; j < 32; j++) cc.push({{{ makeGetValue('argp + j', 17, 'i8') }}} & 0xff);
        ops.ioctl_tcsets(tty, op, {
          c_iflag: {{{ makeGetValue('argp', 0, 'i32') }}},
          c_oflag: {{{ makeGetValue('argp', 4, 'i32') }}},
          c_cflag: {{{ makeGetValue('argp', 8, 'i32') }}},
          c_lflag: {{{ makeGetValue('argp', 12, 'i32') }}},
          c_cc: cc,
        });
        return 0;
      }
      // struct winsize: ws_row, ws_col, ws_xpixel, ws_ypixel (u16).
      if (op == {{{ cDefine('TIOCGWINSZ') }}} && ops.ioctl_tiocgwinsz) {
        var ws = ops.ioctl_tiocgwinsz(tty);
        {{{ makeSetValue('argp', 0, 'ws[0]', 'i16') }}};
        {{{ makeSetValue('argp', 2, 'ws[1]', 'i16') }}};
        {{{ makeSetValue('argp', 4, '0', 'i16') }}};
        {{{ makeSetValue('argp', 6, '0', 'i16') }}};
        return 0;
      }
      return netvm_ioctl_fallback(fd, op, varargs);
    },
  });
})();
