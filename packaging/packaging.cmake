# Packaging (docs/operations.md, "Install and upgrade"): the version the programs print,
# the man pages made from the guides, and what `make install` (cmake --install) puts where.
#
# Included at the end of CMakeLists.txt, once every target exists. Paths follow
# GNUInstallDirs under CMAKE_INSTALL_PREFIX (default /usr/local; `make install PREFIX=...`
# or `cmake --install BUILD --prefix ...`), and DESTDIR is honoured by every rule.

include(GNUInstallDirs)

# -- The version: the project's, and the git revision of the source tree at configure time.

# A tree that is not a git checkout of its own (a release tarball, or a copy inside some
# other repository) says "unknown" rather than another repository's revision. Optional
# locks are off so that configuring never takes the index lock from a concurrent git.
set(CC_GIT_REVISION "unknown")
find_program(CC_GIT git)
if(CC_GIT)
  execute_process(
    COMMAND ${CMAKE_COMMAND} -E env GIT_OPTIONAL_LOCKS=0 ${CC_GIT} -C ${CMAKE_SOURCE_DIR}
            rev-parse --show-toplevel
    OUTPUT_VARIABLE cc_git_top
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE cc_git_rc
    ERROR_QUIET)
  if(cc_git_rc EQUAL 0)
    file(REAL_PATH "${cc_git_top}" cc_git_top)
    file(REAL_PATH "${CMAKE_SOURCE_DIR}" cc_src_real)
  endif()
  if(cc_git_rc EQUAL 0 AND cc_git_top STREQUAL cc_src_real)
    execute_process(
      COMMAND ${CMAKE_COMMAND} -E env GIT_OPTIONAL_LOCKS=0 ${CC_GIT} -C ${CMAKE_SOURCE_DIR}
              describe --always --dirty
      OUTPUT_VARIABLE cc_git_describe
      OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE cc_git_rc
      ERROR_QUIET)
    if(cc_git_rc EQUAL 0 AND cc_git_describe MATCHES "^[A-Za-z0-9._+-]+$")
      set(CC_GIT_REVISION "${cc_git_describe}")
    endif()
  endif()
endif()
message(STATUS "contactcore ${PROJECT_VERSION}, git revision ${CC_GIT_REVISION}")
# configure_file rewrites the header only when its text changes, so a configure at the
# same revision relinks nothing.
configure_file(${CMAKE_SOURCE_DIR}/packaging/cc_version.h.in ${CMAKE_BINARY_DIR}/gen/cc_version.h
               @ONLY)
foreach(prog ixnserver statserver agentdesk)
  if(TARGET ${prog})
    target_include_directories(${prog} PRIVATE ${CMAKE_BINARY_DIR}/gen)
  endif()
endforeach()

# -- Man pages, made from the guides at build time by scripts/md2man.py (python3 only).

find_program(PYTHON3 python3 REQUIRED)
set(cc_man_pages
    "ixnserver|8|the contact-centre interaction server|docs/ixnserver.md|statserver(8),agentdesk(1)"
    "statserver|8|the contact-centre reporting engine|docs/statserver.md|ixnserver(8),agentdesk(1)"
    "agentdesk|1|the terminal agent desktop of the contact-centre core|docs/agentdesk.md|ixnserver(8),statserver(8)"
)
set(cc_man_outputs)
foreach(entry ${cc_man_pages})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 section)
  list(GET parts 2 summary)
  list(GET parts 3 source)
  list(GET parts 4 see_also)
  set(out ${CMAKE_BINARY_DIR}/man/${name}.${section})
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/scripts/md2man.py --name ${name} --section ${section}
            --summary ${summary} --version ${PROJECT_VERSION} --see-also ${see_also}
            --source ${source} ${CMAKE_SOURCE_DIR}/${source} ${out}
    DEPENDS ${CMAKE_SOURCE_DIR}/${source} ${CMAKE_SOURCE_DIR}/scripts/md2man.py
    COMMENT "Man page ${name}(${section}) from ${source}"
    VERBATIM)
  list(APPEND cc_man_outputs ${out})
  install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man ALL DEPENDS ${cc_man_outputs})

# -- Programs. The daemons go to sbin (their pages are in section 8), the desktop to bin;
# the demo's simulators and the terminal wallboard, whose names are too generic for a
# shared bin directory, to libexec/contactcore. The web pages are inside the daemons.

foreach(prog ixnserver statserver)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
  endif()
endforeach()
if(TARGET agentdesk)
  install(TARGETS agentdesk RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# ccwatch, the status bucket's reader, is an operator's tool with a name of its own.
if(TARGET ccwatch)
  install(TARGETS ccwatch RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
foreach(prog wallboard mediasim agentsim)
  if(TARGET ${prog})
    install(TARGETS ${prog} RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/contactcore)
  endif()
endforeach()

# -- Documentation and example configurations (never into sysconfdir: an upgrade must not
# overwrite what the operator wrote there).

file(GLOB cc_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md ${CMAKE_SOURCE_DIR}/docs/*.png)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${cc_docs} DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB cc_examples CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/examples/*)
install(FILES ${cc_examples} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# -- systemd units and the service users. The units name the installed programs and the
# configuration directory by absolute path, and the prefix is only known at install time
# (cmake --install --prefix), so packaging/install-units.cmake writes them then.

set(CC_SYSTEMD_UNITDIR "" CACHE PATH
    "Directory of the systemd units (default: PREFIX/lib/systemd/system)")
set(CC_SYSUSERSDIR "" CACHE PATH
    "Directory of the sysusers.d file (default: PREFIX/lib/sysusers.d)")
install(CODE "
set(CC_PKG_SOURCE_DIR \"${CMAKE_SOURCE_DIR}/packaging\")
set(CC_PKG_WORK_DIR \"${CMAKE_BINARY_DIR}/packaging\")
set(CC_PKG_SBINDIR \"${CMAKE_INSTALL_SBINDIR}\")
set(CC_PKG_SYSCONFDIR \"${CMAKE_INSTALL_SYSCONFDIR}\")
set(CC_PKG_UNITDIR \"${CC_SYSTEMD_UNITDIR}\")
set(CC_PKG_SYSUSERSDIR \"${CC_SYSUSERSDIR}\")
")
install(SCRIPT ${CMAKE_SOURCE_DIR}/packaging/install-units.cmake)
