# Copyright (c) Ansible Project
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Created with antsibull-docs 2.28.0 (`antsibull-docs sphinx-init --use-current`); built by
# tests/publish/build_docs.sh (make docs).

# This file only contains a selection of the most common options. For a full list see the
# documentation:
# http://www.sphinx-doc.org/en/master/config

project = 'servicemesh.asm'
copyright = 'servicemesh.asm contributors'

title = 'servicemesh.asm documentation'
html_short_title = 'servicemesh.asm'

extensions = ['sphinx.ext.autodoc', 'sphinx_antsibull_ext']

pygments_style = 'ansible'

highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False

display_version = False

html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

# No intersphinx: the build must work offline (its inventories would be fetched from the network).
# The two Ansible labels the generated pages refer to (common_return_values,
# ansible_configuration_settings) are defined in rst/ansible_references.rst as links instead.

default_role = 'any'

nitpicky = True
