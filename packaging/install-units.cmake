# Runs at install time (install(SCRIPT) of packaging/packaging.cmake): writes the systemd
# units with the paths of the prefix being installed to, installs them and the sysusers.d
# file, and makes the configuration directory. CMAKE_INSTALL_PREFIX is the install-time
# prefix here; file(INSTALL) adds DESTDIR. The CC_PKG_* variables come from install(CODE).

# An absolute path under the prefix, as GNUInstallDirs' CMAKE_INSTALL_FULL_<dir> computes
# it: relative names go under the prefix, and sysconfdir of /usr and / is /etc (of /opt/X,
# /etc/opt/X).
function(cc_full_dir out dir kind)
  set(prefix "${CMAKE_INSTALL_PREFIX}")
  string(REGEX REPLACE "/+$" "" prefix "${prefix}")
  if(IS_ABSOLUTE "${dir}")
    set(full "${dir}")
  elseif(kind STREQUAL "sysconf" AND (prefix STREQUAL "" OR prefix STREQUAL "/usr"))
    set(full "/${dir}")
  elseif(kind STREQUAL "sysconf" AND prefix MATCHES "^/opt/(.*)")
    set(full "/${dir}/opt/${CMAKE_MATCH_1}")
  else()
    set(full "${prefix}/${dir}")
  endif()
  set(${out} "${full}" PARENT_SCOPE)
endfunction()

cc_full_dir(CC_SBINDIR "${CC_PKG_SBINDIR}" plain)
cc_full_dir(cc_sysconf "${CC_PKG_SYSCONFDIR}" sysconf)
set(CC_CONFDIR "${cc_sysconf}/contactcore")
if(CC_PKG_UNITDIR)
  cc_full_dir(cc_unitdir "${CC_PKG_UNITDIR}" plain)
else()
  cc_full_dir(cc_unitdir "lib/systemd/system" plain)
endif()
if(CC_PKG_SYSUSERSDIR)
  cc_full_dir(cc_sysusersdir "${CC_PKG_SYSUSERSDIR}" plain)
else()
  cc_full_dir(cc_sysusersdir "lib/sysusers.d" plain)
endif()

# One work directory per prefix, so that two installs to different prefixes from one build
# directory do not write each other's units.
string(MD5 cc_prefix_hash "${CMAKE_INSTALL_PREFIX}")
set(cc_work "${CC_PKG_WORK_DIR}/units-${cc_prefix_hash}")
file(MAKE_DIRECTORY "${cc_work}")
foreach(unit ixnserver.service statserver.service)
  configure_file("${CC_PKG_SOURCE_DIR}/systemd/${unit}.in" "${cc_work}/${unit}" @ONLY)
endforeach()
file(INSTALL DESTINATION "${cc_unitdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
     WORLD_READ FILES "${cc_work}/ixnserver.service" "${cc_work}/statserver.service")
file(INSTALL DESTINATION "${cc_sysusersdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE
     GROUP_READ WORLD_READ FILES "${CC_PKG_SOURCE_DIR}/sysusers.d/contactcore.conf")

# The directory the units read their configuration from; its files are the operator's.
message(STATUS "Installing: $ENV{DESTDIR}${CC_CONFDIR} (directory only)")
file(MAKE_DIRECTORY "$ENV{DESTDIR}${CC_CONFDIR}")
