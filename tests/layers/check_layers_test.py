#!/usr/bin/env python3
"""The layer check (check_layers.py): the tree passes it, and each kind of wrong include, put
into a copy of the tree, makes it fail and name the file and line."""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CHECK = HERE / 'check_layers.py'


def run_check(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True)


class LayerCheck(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix='pxlayers-')
        self.copy = pathlib.Path(self.tmp.name)
        shutil.copytree(ROOT / 'src', self.copy / 'src')
        shutil.copytree(ROOT / 'include', self.copy / 'include')

    def tearDown(self):
        self.tmp.cleanup()

    def add_include(self, relative, line):
        path = self.copy / relative
        path.write_text(path.read_text() + line + '\n')
        return len(path.read_text().splitlines())

    def assert_refused(self, relative, line, words):
        number = self.add_include(relative, line)
        result = run_check(self.copy)
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(f'{relative}:{number}:', result.stdout)
        self.assertIn(words, result.stdout)

    def test_the_tree_respects_its_layers(self):
        result = run_check(ROOT)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_an_untouched_copy_passes(self):
        self.assertEqual(run_check(self.copy).returncode, 0)

    def test_wire_including_the_session_is_refused(self):
        self.assert_refused('src/wire/frame.hpp', '#include "rpc/session.hpp"',
                            'wire may not include rpc/session.hpp')

    def test_transport_including_rpc_is_refused(self):
        self.assert_refused('src/transport/connection.hpp', '#include "rpc/outbox.hpp"',
                            'transport may not include rpc/outbox.hpp')

    def test_rpc_including_the_api_layer_is_refused(self):
        self.assert_refused('src/rpc/session.cpp', '#include "api/lane_state.hpp"',
                            'rpc may not include api/lane_state.hpp')

    def test_a_public_header_the_layer_may_not_use_is_refused(self):
        self.assert_refused('src/transport/address.cpp', '#include "plexus/client.hpp"',
                            'transport may not include public header plexus/client.hpp')

    def test_a_public_header_including_an_internal_one_is_refused(self):
        self.assert_refused('include/plexus/call.hpp', '#include "rpc/session.hpp"',
                            'a public header includes internal rpc/session.hpp')

    def test_posix_outside_platform_is_refused(self):
        self.assert_refused('src/rpc/outbox.cpp', '#include <sys/socket.h>',
                            'POSIX header <sys/socket.h> outside platform/')

    def test_wire_stays_free_of_asio(self):
        self.assert_refused('src/wire/batch.cpp', '#include <asio/post.hpp>',
                            'wire is pure: no <asio/post.hpp>')

    def test_a_folder_without_a_layer_is_refused(self):
        (self.copy / 'src' / 'spool').mkdir()
        (self.copy / 'src' / 'spool' / 'spool.cpp').write_text('#include "wire/frame.hpp"\n')
        result = run_check(self.copy)
        self.assertEqual(result.returncode, 1)
        self.assertIn('src/spool/: a folder that src/LAYERS does not name', result.stdout)


if __name__ == '__main__':
    unittest.main()
